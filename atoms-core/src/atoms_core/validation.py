"""Validating request data against a contract model, with a 422 that names the JSON pointer."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from atoms_core.errors import Unprocessable

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, prefix: str = "") -> M:
    """``model.model_validate(data)``, or 422 ``validation_failed`` pointing at the first bad value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        pointer = prefix + "".join(f"/{part}" for part in first["loc"])
        raise Unprocessable("validation_failed", f"{pointer or '/'}: {first['msg']}", pointer=pointer) from None
