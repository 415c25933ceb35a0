"""Validated settings: every user-settable knob has one Field with its bounds and default.

Parsing never raises: a bad value (from a URL, a widget or a notebook) becomes the field's
default or the nearest bound, with a notice that says what was wrong.
"""
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class Field:
    """One setting: its URL key, type, default and bounds (numbers) or choices (text)."""

    key: str
    default: Any
    kind: type = float  # int, float, str or bool
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    optional: bool = False  # None is allowed and means "off"; an empty URL value gives None
    label: str = ""

    def bounds_text(self) -> str:
        if self.kind is bool:
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(map(format_value, self.choices))
        return f"between {format_value(self.lo)} and {format_value(self.hi)}"


GROUP = "\u00a0"  # a no-break space between groups of digits: "2 147 483 647" stays one line


def format_value(value: Any) -> str:
    """A setting's value as people read it: whole numbers in full, digits grouped in threes
    from 10 000 on (2 147 483 647, never 2.14748e+09), other numbers without an exponent
    where one is not needed (0.0001); text and booleans as they are."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e18:
        whole = int(value)
        return f"{whole:,}".replace(",", GROUP) if abs(whole) >= 10_000 else str(whole)
    if 1e-6 <= abs(value) < 1e6:
        return np.format_float_positional(float(value), trim="-")  # shortest, as repr
    return repr(float(value))


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _as_number(field: Field, raw: Any):
    value = float(str(raw).strip()) if not isinstance(raw, (int, float)) else float(raw)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    if field.kind is int:
        if value != int(value):
            raise ValueError("not a whole number")
        value = int(value)
    return value


def parse_value(field: Field, raw: Any) -> tuple[Any, str | None]:
    """(value, notice): the validated value, and a sentence if `raw` had to be replaced."""
    if isinstance(raw, (list, tuple)):  # a repeated URL key: the last one wins, like browsers
        raw = raw[-1] if raw else None
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none", "off")):
        if field.optional:
            return None, None
        if raw is None:
            return field.default, None
    try:
        if field.kind is bool:
            text = str(raw).strip().lower()
            if text not in _TRUE | _FALSE:
                raise ValueError("not true/false")
            return text in _TRUE, None
        if field.kind is str:
            text = str(raw).strip()
            if text not in field.choices:
                raise ValueError("unknown value")
            return text, None
        value = _as_number(field, raw)
    except (TypeError, ValueError, OverflowError):
        shown = str(raw)[:40]
        return field.default, (
            f"“{field.key}={shown}” is not valid: {field.key} must be {field.bounds_text()}; "
            f"using {format_value(field.default)}."
        )
    if field.choices:
        if value not in field.choices:
            nearest = min(field.choices, key=lambda c: abs(c - value))
            return nearest, (
                f"“{field.key}={raw}” is not offered ({field.bounds_text()}); using "
                f"{format_value(nearest)}."
            )
        return value, None
    clipped = min(max(value, field.lo), field.hi)
    clipped = field.kind(clipped)
    if clipped != value:
        return clipped, (
            f"“{field.key}={raw}” is out of range ({field.bounds_text()}); using "
                f"{format_value(clipped)}."
        )
    return value, None


def parse(fields: tuple[Field, ...], raw: Mapping[str, Any]) -> tuple[dict, list[str]]:
    """Validate a mapping of raw values (e.g. URL query parameters) against `fields`.

    Unknown keys are ignored (they may belong to another page). Returns the values of every
    field and a list of notices, one per replaced value.
    """
    values, notices = {}, []
    for field in fields:
        value, notice = parse_value(field, raw.get(field.key))
        values[field.key] = value
        if notice:
            notices.append(notice)
    return values, notices


def to_query(fields: tuple[Field, ...], values: Mapping[str, Any]) -> dict[str, str]:
    """The URL form of validated values: every field, as text; None as an empty string."""
    out = {}
    for field in fields:
        value = values[field.key]
        if value is None:
            out[field.key] = ""
        elif field.kind is bool:
            out[field.key] = "true" if value else "false"
        elif field.kind is float:
            out[field.key] = repr(float(value))  # repr round-trips a float exactly
        else:
            out[field.key] = str(value)
    return out


def parse_text(raw: Mapping[str, Any], key: str, default: str, limit: int,
               what: str) -> tuple[str, list[str]]:
    """A free-text setting (a sentence, a source) from raw values: the last one given, the
    default if none, cut to `limit` characters with a notice naming `what` it is. Text is
    data: it is never parsed or rendered as markup."""
    text = raw.get(key)
    if isinstance(text, (list, tuple)):
        text = text[-1] if text else None
    text = default if text is None else str(text)
    if len(text) <= limit:
        return text, []
    return text[:limit], [f"The {what} in the link has {len(text)} characters; the first "
                          f"{limit} are read."]
