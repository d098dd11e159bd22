-- `ioc backtest` keeps each run's results in its own namespace (Settings.for_backtest): what
-- it read, which rules, and the alerts with their state changes and the per-rule summary as
-- printed (streams/alerts/backtest.py). Present in every schema; only the backtest one
-- fills it.
CREATE TABLE backtest_runs (
    run_id      bigserial   PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    input       text        NOT NULL,
    rules       text        NOT NULL,
    against     text,
    result      jsonb
);
