"""The ``Order`` model: one field per column of ``walltrack.orders``, validated when built.

Types follow the columns (see ``tests/test_orders_model.py``, which compares them with the
declared table): ``UUID`` for uuid, ``Decimal`` with the column's precision and scale for
DECIMAL(p, s), timezone-aware ``datetime`` for TIMESTAMPTZ, ``str`` with the column's length for
VARCHAR(n), ``X | None`` exactly where the column is nullable. Defaults are the table's.

Values the columns' types allow but PostgreSQL or the driver would refuse are refused here too,
naming the field: text holding a NUL byte (PostgreSQL text cannot store U+0000) and times so close
to the ends of Python's ``datetime`` range that a session in another time zone could not read
them back (outside 0001-01-02 .. 9999-12-30 UTC).

An ``Order`` is immutable: change one with ``order.model_copy(update={...})`` and store it with
``OrderRepository.update``. ``model_copy`` does not validate, so the repository validates again
before writing (:func:`revalidated`).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

from orders_schema.walltrack.orders.lifecycle import TERMINAL, OrderStatus


class OrderType(str, Enum):
    """``entry`` opens a position (a buy for a signal); ``exit`` closes one (a sell)."""

    ENTRY = "entry"
    EXIT = "exit"


class OrderSide(str, Enum):
    BUY = "buy"
    SELL = "sell"


_SIDE_OF = {OrderType.ENTRY: OrderSide.BUY, OrderType.EXIT: OrderSide.SELL}


def _now() -> datetime:
    return datetime.now(timezone.utc)


EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=timezone.utc)
"""The times an order may hold: PostgreSQL stores far more, but it sends a timestamptz in the
session's time zone, and psycopg cannot turn a value past year 1 or 9999 there into a ``datetime``
(a day of margin covers every time zone)."""


def text_problem(value: str) -> str | None:
    """Why PostgreSQL text cannot hold ``value`` (a NUL byte, a lone surrogate), or None."""
    if "\x00" in value:
        return f"contains a NUL byte (U+0000) at position {value.index(chr(0))}, which PostgreSQL text cannot hold"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not valid Unicode text ({exc.reason} at position {exc.start})"
    return None


def uuid7() -> UUID:
    """A new UUIDv7 (RFC 9562): Unix milliseconds in the first 48 bits, version 7, variant 10,
    74 random bits. The layout of the table's default ``walltrack.uuid_v7()``, so keys made by the
    application are appended to ``orders_pkey`` in time order too (see docs/decisions.md)."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | (rand >> 62 & 0xFFF) << 64
        | 0b10 << 62
        | rand & ((1 << 62) - 1)
    )
    return UUID(int=value)


class Order(BaseModel):
    """An order, as stored in ``walltrack.orders``.

    Rules beyond the column types (what the story's data implies):

    * an ``entry`` order is a ``buy`` and names its ``signal_id``; an ``exit`` order is a
      ``sell`` and names its ``position_id`` (an entry order may also name the position it opened);
    * amounts and prices are > 0 when given; ``0 <= max_slippage_bps <= 10000``;
    * ``0 <= attempt_count <= max_attempts`` and ``max_attempts >= 1``.

    ``created_at`` and ``updated_at`` belong to the database: the repository stores its own
    ``now()`` and returns the stored values; the defaults here only stand in until then.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID = Field(default_factory=uuid7)

    order_type: OrderType
    side: OrderSide

    signal_id: str | None = Field(default=None, max_length=100)
    position_id: UUID | None = None

    token_address: str = Field(min_length=1, max_length=44)
    token_symbol: str | None = Field(default=None, max_length=20)

    amount_sol: Decimal = Field(gt=0, max_digits=20, decimal_places=8)
    amount_tokens: Decimal | None = Field(default=None, gt=0, max_digits=30, decimal_places=8)

    expected_price: Decimal = Field(gt=0, max_digits=30, decimal_places=12)
    actual_price: Decimal | None = Field(default=None, gt=0, max_digits=30, decimal_places=12)
    max_slippage_bps: int = Field(default=100, ge=0, le=10_000)

    status: OrderStatus = OrderStatus.PENDING

    tx_signature: str | None = Field(default=None, max_length=100)
    filled_at: AwareDatetime | None = None

    attempt_count: int = Field(default=0, ge=0, le=2_147_483_647)
    max_attempts: int = Field(default=3, ge=1, le=2_147_483_647)
    last_error: str | None = None
    next_retry_at: AwareDatetime | None = None

    is_simulated: bool = Field(default=False, strict=True)  # never "yes" or 1 read as true

    created_at: AwareDatetime = Field(default_factory=_now)
    updated_at: AwareDatetime = Field(default_factory=_now)

    @field_validator("signal_id", "token_address", "token_symbol", "tx_signature", "last_error")
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        problem = None if value is None else text_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("filled_at", "next_retry_at", "created_at", "updated_at")
    @classmethod
    def _readable_time(cls, value: datetime | None) -> datetime | None:
        if value is not None and not EARLIEST <= value <= LATEST:
            raise ValueError(
                f"{value.isoformat()} is outside 0001-01-02 .. 9999-12-30 UTC: PostgreSQL would store it, "
                "but a session in another time zone could not read it back"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Order:
        expected_side = _SIDE_OF[self.order_type]
        if self.side != expected_side:
            raise ValueError(
                f"order {self.id}: an {self.order_type.value} order is a {expected_side.value}, "
                f"not a {self.side.value}"
            )
        if self.order_type is OrderType.ENTRY and self.signal_id is None:
            raise ValueError(f"order {self.id}: an entry order needs the signal_id it trades")
        if self.order_type is OrderType.EXIT and self.position_id is None:
            raise ValueError(f"order {self.id}: an exit order needs the position_id it closes")
        if self.attempt_count > self.max_attempts:
            raise ValueError(
                f"order {self.id}: attempt_count {self.attempt_count} exceeds max_attempts {self.max_attempts}"
            )
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def slippage_bps(self) -> int | None:
        """``round(|actual - expected| / expected * 10000)``, as the story's ``order_history`` view.

        ``None`` until there is an ``actual_price``. Halves round away from zero, as PostgreSQL's
        ``round(numeric)`` does.
        """
        if self.actual_price is None or self.expected_price <= 0:
            return None
        ratio = abs(self.actual_price - self.expected_price) / self.expected_price * 10000
        return int(ratio.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def can_retry(self) -> bool:
        """Failed with attempts left (``failed`` is retryable, hence not terminal)."""
        return self.status is OrderStatus.FAILED and self.attempt_count < self.max_attempts

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_terminal(self) -> bool:
        """``filled`` or ``cancelled``: no status may follow."""
        return self.status in TERMINAL


COLUMNS: tuple[str, ...] = tuple(Order.model_fields)
"""The column names of ``walltrack.orders``, in table order."""


def revalidated(order: Order) -> Order:
    """``order`` validated again (``model_copy(update=...)`` skips validation; a bad copy fails here)."""
    return Order.model_validate({name: getattr(order, name) for name in COLUMNS})


def column_values(order: Order) -> dict[str, Any]:
    """The columns of an (already validated) order as bind parameters; enums bound by value."""
    return {name: _bindable(getattr(order, name)) for name in COLUMNS}


def _bindable(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value
