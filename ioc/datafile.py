"""Versioned YAML data files (provinces, calendars) read into pydantic models.

Every error names the file, the path inside it and the problem, so a person can fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ioc.errors import SettingsError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path, what: str) -> Any:
    """The YAML document at `path`; raise `SettingsError` naming the file and the problem."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None


def validated(path: Path, data: Any, model: type[M], context: dict | None = None) -> M:
    """`data` (read from `path`) as `model`; raise `SettingsError` naming file, path inside it
    and problem."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{path}: {where + ': ' if where else ''}{message}") from None


def load_yaml(path: Path, model: type[M], what: str, context: dict | None = None) -> M:
    """Read `path` as `model`; raise `SettingsError` naming file, path and problem."""
    return validated(path, read_yaml(path, what), model, context)
