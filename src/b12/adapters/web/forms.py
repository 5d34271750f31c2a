"""What a form was given and what was wrong with it, so that a refused form comes back as the user typed it.

Field names are the paths of the JSON case format where there is one (``patient.sex``, ``labs[2].unit``), so
an error's path names its input. Values are kept as text; parsing happens in the route modules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from starlette.datastructures import FormData, QueryParams

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_WHOLE = re.compile(r"[+-]?\d+")


@dataclass(slots=True)
class FormState:
    values: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)  # problems that belong to no one field

    @classmethod
    def of(cls, data: FormData | QueryParams | Mapping[str, str]) -> FormState:
        state = cls()
        items: Iterable[tuple[str, object]] = data.multi_items() if hasattr(data, "multi_items") else data.items()
        for key, value in items:
            if isinstance(value, str):  # uploaded files are never expected: ignored
                state.values.setdefault(key, value)
                state.lists.setdefault(key, []).append(value)
        return state

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def text(self, name: str) -> str:
        return self.values.get(name, "").strip()

    def all(self, name: str) -> list[str]:
        return self.lists.get(name, [])

    def checked(self, name: str, value: str = "on") -> bool:
        return value in self.lists.get(name, [])

    def error(self, name: str) -> str:
        return self.errors.get(name, "")

    def add_error(self, name: str, message: str) -> None:
        """Keep the first problem of each field (the most basic one, as the domain reports them)."""
        self.errors.setdefault(name, _sentence(message))

    @property
    def ok(self) -> bool:
        return not self.errors and not self.general


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text


def parse_number(state: FormState, name: str, *, required: bool = False, example: str = "150") -> float | None:
    """A decimal number typed in ``name``; a problem is recorded beside the field and None returned."""
    text = state.text(name)
    if not text:
        if required:
            state.add_error(name, f"Enter a number, for example {example}")
        return None
    if _DECIMAL_COMMA.fullmatch(text):
        state.add_error(name, f"Write the number with a decimal point, for example {text.replace(',', '.')}")
        return None
    if not _NUMBER.fullmatch(text):
        state.add_error(name, f"{text!r} is not a number: enter digits only, for example {example}")
        return None
    return float(text)


def parse_whole(state: FormState, name: str, *, example: str = "12") -> int | None:
    text = state.text(name)
    if not text:
        return None
    if not _WHOLE.fullmatch(text):
        state.add_error(name, f"{text!r} is not a whole number: enter digits only, for example {example}")
        return None
    return int(text)
