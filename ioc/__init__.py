"""Glue shared by every deployable part: settings, the event contract, embedded services, the `ioc` command."""

__version__ = "0.1.0"
