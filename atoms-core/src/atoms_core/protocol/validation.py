"""Validating request data against a contract model, with a 422 that names the JSON pointer."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from atoms_core.protocol.errors import BadRequest, Unprocessable

#: The largest seq a client may name (``after``, ``Last-Event-ID``): far beyond any real timeline.
MAX_SEQ = 2**62
_DIGITS = re.compile(r"[0-9]{1,19}")

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, prefix: str = "") -> M:
    """``model.model_validate(data)``, or 422 ``validation_failed`` pointing at the first bad value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        pointer = prefix + "".join(f"/{part}" for part in first["loc"])
        raise Unprocessable("validation_failed", f"{pointer or '/'}: {first['msg']}", pointer=pointer) from None


def bounded_int(raw: str, name: str, low: int, high: int) -> int:
    """A query or header integer in ``[low, high]``, else 400 ``bad_request``.

    ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses), and at most 19 of them,
    so a value of thousands of digits is refused before ``int`` ever sees it.
    """
    if _DIGITS.fullmatch(raw) is None or not low <= int(raw) <= high:
        raise BadRequest("bad_request", f"{name} must be an integer in [{low}, {high}]")
    return int(raw)
