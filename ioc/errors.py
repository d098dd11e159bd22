"""The project's exception tree: every message says what went wrong and what to do about it."""


class IocError(Exception):
    """Base of every error the `ioc` command reports as a plain message (no traceback)."""


class SettingsError(IocError):
    """An `IOC_*` variable or a configuration file holds a value we cannot use."""


class ServiceError(IocError):
    """An embedded or external service could not be started or reached."""


class PortInUseError(ServiceError):
    """A port we must listen on is already taken."""


class MissingBinaryError(ServiceError):
    """A program we must run is not installed or not executable."""


class PartDiedError(IocError):
    """A part started by `ioc up` exited while it should have kept running."""


class MigrationError(IocError):
    """A file in `ioc/sql/` failed to apply."""


class ContractError(IocError):
    """An event does not satisfy the event contract."""


class RuleEvaluationError(IocError):
    """An alert rule could not be evaluated on the stored data (the other rules go on)."""
