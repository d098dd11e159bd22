"""Glue shared by every deployable part.

Settings, the event contract, embedded services and the `ioc` command.
"""

__version__ = "0.1.0"
