"""The repository's boundary: every argument is checked before any SQL is sent.

Without these checks a wrong argument reached psycopg or the server and came back as a raw
driver error: ``psycopg.DataError`` for a NUL byte in text, ``InvalidTextRepresentation`` for
``get_by_id("not-a-uuid")``, ``UndefinedFunction`` for a number where text belongs,
``NumericValueOutOfRange`` for a ``limit`` past bigint, ``UnicodeEncodeError`` for a lone
surrogate, ``AttributeError`` for a date given as a string; and ``is_simulated="yes"`` was read
by PostgreSQL as true. Each of them is now an :class:`OrderValidationError` naming the method,
the argument (or the order's field) and what is wrong; nothing is sent to the database.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

import pydantic

from orders_schema.walltrack.orders.model import Order, revalidated, text_problem

BIGINT_MAX = 2**63 - 1
"""The largest ``LIMIT`` or ``OFFSET`` PostgreSQL accepts (bigint)."""

E = TypeVar("E", bound=Enum)


class OrderValidationError(ValueError):
    """An argument the repository refuses before sending anything to the database.

    ``method`` is the repository method, ``argument`` the argument (``"order_id"``) or the
    order's field (``"order.token_address"``; with several invalid fields, the first, and
    ``fields`` lists them all), ``value`` the value refused. The message names the method, the
    argument and what is wrong: ``get_by_id: order_id must be a UUID, got 'not-a-uuid'``. An
    invalid order's ``__cause__`` is pydantic's ``ValidationError``.
    """

    def __init__(self, method: str, argument: str, problem: str, value: Any = None,
                 fields: tuple[str, ...] = (), subject: str | None = None) -> None:
        self.method = method
        self.argument = argument
        self.value = value
        self.fields = fields or (argument,)
        super().__init__(f"{method}: {subject or argument} {problem}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse(method: str, name: str, expected: str, value: Any) -> OrderValidationError:
    return OrderValidationError(method, name, f"{expected}, got {_shown(value)}", value)


def text_argument(method: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _refuse(method, name, "must be a str", value)
    problem = text_problem(value)
    if problem is not None:
        raise OrderValidationError(method, name, f"{problem}, got {_shown(value)}", value)
    return value


def uuid_argument(method: str, name: str, value: Any) -> UUID:
    """A ``UUID``, or a string holding one (``"2f1a4c9e-0b7d-..."``)."""
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise _refuse(method, name, "must be a UUID", value)


def flag_argument(method: str, name: str, value: Any) -> bool | None:
    """``True``, ``False`` or ``None`` (no filter); never a string or a number read as one."""
    if value is None or isinstance(value, bool):
        return value
    raise _refuse(method, name, "must be True, False or None", value)


def enum_argument(method: str, name: str, kind: type[E], value: Any) -> str | None:
    """A member of ``kind`` or its plain value (``"failed"``) as the value, or ``None``."""
    if value is None:
        return None
    if isinstance(value, kind):
        return str(value.value)
    if isinstance(value, str) and not isinstance(value, Enum):
        for member in kind:
            if member.value == value:
                return value
    allowed = ", ".join(repr(m.value) for m in kind)
    raise _refuse(method, name, f"must be one of {allowed} (an {kind.__name__} or its value) or None", value)


def count_argument(method: str, name: str, value: Any) -> int:
    """An ``int`` from 0 to :data:`BIGINT_MAX` (``LIMIT``/``OFFSET``)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BIGINT_MAX:
        raise _refuse(method, name, f"must be an integer from 0 to {BIGINT_MAX}", value)
    return value


def moment_argument(method: str, name: str, value: Any) -> datetime | None:
    """A timezone-aware ``datetime`` or ``None``."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise _refuse(method, name, f"must be a timezone-aware datetime, not a {type(value).__name__}", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise _refuse(method, name, "must be timezone-aware (a naive datetime)", value)
    return value


def _plain(message: str, order_id: Any) -> str:
    """pydantic's message without its ``Value error, `` prefix or the order's id (said once)."""
    message = message.removeprefix("Value error, ")
    return message.removeprefix(f"order {order_id}: ")


def order_argument(method: str, value: Any) -> Order:
    """``value`` validated again as an :class:`Order` (``model_copy`` skips validation)."""
    if not isinstance(value, Order):
        raise _refuse(method, "order", "must be an Order", value)
    try:
        return revalidated(value)
    except pydantic.ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]), _plain(e["msg"], value.id)) for e in exc.errors()]
        fields = tuple(f"order.{field}" if field else "order" for field, _ in problems)
        described = "; ".join(f"{field}: {msg}" if field else msg for field, msg in problems)
        raise OrderValidationError(
            method, fields[0], f"is invalid: {described}", value, fields, subject=f"order {value.id}"
        ) from exc


__all__ = [
    "BIGINT_MAX",
    "OrderValidationError",
    "count_argument",
    "enum_argument",
    "flag_argument",
    "moment_argument",
    "order_argument",
    "text_argument",
    "text_problem",
    "uuid_argument",
]
