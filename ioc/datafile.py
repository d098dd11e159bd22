"""Versioned YAML data files (provinces, calendars) read into pydantic models.

Every error names the file, the path inside it and the problem, so a person can fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ioc.errors import SettingsError

M = TypeVar("M", bound=BaseModel)


def load_yaml(path: Path, model: type[M], what: str, context: dict | None = None) -> M:
    """Read `path` as `model`; raise `SettingsError` naming file, path and problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{path}: {where + ': ' if where else ''}{message}") from None
