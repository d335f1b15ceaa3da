"""One difference between the declarations and a live schema, and the helpers every kind's
comparison uses (:mod:`orders_schema.live.compare`, :mod:`orders_schema.kinds`)."""

from __future__ import annotations

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
