"""One difference between the declarations and a live schema, and the helpers every kind's
comparison uses (:mod:`orders_schema.live.compare`, :mod:`orders_schema.kinds`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar


@dataclass(frozen=True)
class Difference:
    """One way a live schema differs from its declarations.

    ``kind`` is the object's kind (``table``, ``column``, ``check``, ``primary key``,
    ``foreign key``, ``unique``, ``exclusion``, ``index``, ``trigger``, ``function``, ``view``,
    ``comment``); ``name`` its quoted qualified name (``walltrack.orders.status`` for a column,
    constraint or trigger; ``walltrack.log_order_status_change()`` for a function); ``what`` says
    what differs (``missing``, ``extra``, ``renamed``, ``definition differs``, ``type differs``,
    ``column order differs``, ...); ``declared`` and ``live`` show each side in stored form
    (None: absent).
    """

    kind: str
    name: str
    what: str
    declared: str | None = None
    live: str | None = None

    def __str__(self) -> str:
        lines = [f"{self.kind} {self.name}: {self.what}"]
        for label, text in (("declared", self.declared), ("live", self.live)):
            body = "(none)" if text is None else text.strip().replace("\n", "\n            ")
            lines.append(f"  {label + ':':<9} {body}")
        return "\n".join(lines)


_X = TypeVar("_X")
_K = TypeVar("_K")


def pair(declared: dict[_K, _X], live: dict[_K, _X]) -> Iterator[tuple[_K, _X | None, _X | None]]:
    """Both sides matched by key, in key order; None where one side lacks the object."""
    for key in sorted(declared.keys() | live.keys()):  # type: ignore[type-var]
        yield key, declared.get(key), live.get(key)


def presence(kind: str, name: str, declared: str | None, live: str | None) -> Difference:
    return Difference(kind, name, "missing" if live is None else "extra", declared, live)


class Defined(Protocol):
    @property
    def definition(self) -> str: ...


def definition(obj: Defined | None) -> str | None:
    return None if obj is None else obj.definition


def array_casts_per_element(text: str) -> str:
    """``(ARRAY[a, b])::T[]`` written as ``ARRAY[(a)::T, (b)::T]``: the same array, in one form.

    PostgreSQL stores ``status IN ('a', 'b')`` on a varchar column as ``ANY ((ARRAY['a'::character
    varying, ...])::text[])`` when a CHECK or index is created, but as ``ANY (ARRAY[('a'::character
    varying)::text, ...])`` once ``ALTER COLUMN ... TYPE`` re-parsed it (say varchar(20) widened to
    varchar(40)). Both mean the same: comparisons of stored definitions read both in this form."""
    out, i = [], 0
    while (start := text.find("(ARRAY[", i)) >= 0:
        end = _closing(text, start + 6)  # the ] matching ARRAY[
        cast = re.match(r"\)::([a-z ]+)\[\]", text[end + 1:]) if end > 0 else None
        if cast is None:
            out.append(text[i:start + 7])
            i = start + 7
            continue
        elements = _split_top(text[start + 7:end])
        out.append(text[i:start] + "ARRAY[" + ", ".join(f"({e})::{cast[1]}" for e in elements) + "]")
        i = end + 1 + cast.end()
    return "".join(out) + text[i:]


def _closing(text: str, open_at: int) -> int:
    """Index of the bracket closing the one at ``open_at`` (quoted text skipped); -1 when none."""
    depth, quoted = 0, False
    for j in range(open_at, len(text)):
        ch = text[j]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "[(":
            depth += 1
        elif not quoted and ch in "])":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _split_top(text: str) -> list[str]:
    """``text`` split at its top-level commas (none inside quotes, brackets or parentheses)."""
    parts, depth, quoted, last = [], 0, False, 0
    for j, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "[(":
            depth += 1
        elif not quoted and ch in "])":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            parts.append(text[last:j].strip())
            last = j + 1
    return [*parts, text[last:].strip()]
