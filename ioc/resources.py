"""The data files the product ships inside its packages, found the same way in a checkout,
an editable install and a wheel installed anywhere: migrations, province and calendar data,
alert rules here; each other part finds its own (scenarios, rhythms, wall assets) with
`shipped_path` too.

Only plain-file installs are supported (pip and pipx unpack wheels as files), so a shipped
folder is always a real directory that Dash, the migration runner and `glob` can read.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ioc.errors import SettingsError


def shipped_path(package: str, *parts: str) -> Path:
    """The file-system path of a folder or file shipped inside `package`."""
    path = Path(str(files(package).joinpath(*parts)))
    if not path.exists():
        raise SettingsError(f"{'/'.join(parts)} is missing from the installed {package!r} "
                            "package: reinstall ioc-monitor (pip install --force-reinstall)")
    return path


SQL_DIR = shipped_path("ioc", "sql")
PROVINCES_DIR = shipped_path("ioc", "provinces")
CALENDARS_DIR = shipped_path("ioc", "calendars")
ALERT_RULES_DIR = shipped_path("ioc", "rules")


def shipped_or_path(name: str, raw: str, folder: Path, what: str) -> Path:
    """A setting that takes a file path or the name of a shipped file in `folder`
    (`thanh-hoa` → folder/thanh-hoa.yaml); an error names the setting and the shipped names."""
    path = Path(raw).expanduser()
    if not path.suffix:
        path = folder / f"{raw}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise SettingsError(f"{name}={raw!r}: expected {what} path or one of the shipped names "
                            f"({known})")
    return path
