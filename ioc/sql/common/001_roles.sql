-- Roles shared by every IOC schema in the cluster.
-- ioc_writer: the stream processors (insert and read events).
-- ioc_reader: the dashboard (read only; its statement_timeout and passwords are set by
-- the migration runner from settings, since they are configuration, not schema).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_writer') THEN
        CREATE ROLE ioc_writer LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_reader') THEN
        CREATE ROLE ioc_reader LOGIN;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO ioc_writer, ioc_reader', current_schema());
END
$$;

ALTER ROLE ioc_reader SET default_transaction_read_only = on;

-- Every table and view created later in this schema by the migration owner.
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO ioc_reader;
ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT ON TABLES TO ioc_writer;
ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO ioc_writer;
