"""The Order model and its lifecycle: types that follow the declared table, rules, computed fields."""

from __future__ import annotations

import re
import types
import typing
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pydantic
import pytest
from annotated_types import MaxLen
from psycopg.rows import dict_row

from orders_schema.declare import model as m
from orders_schema.declare.project import synthetic_parameters
from orders_schema.walltrack import HEAD
from orders_schema.walltrack.orders import (
    TERMINAL,
    TRANSITIONS,
    InvalidTransitionError,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
)
from orders_schema.walltrack.orders.lifecycle import can_follow, check_new, check_transition
from orders_schema.walltrack.orders.model import COLUMNS, column_values, revalidated
from orders_schema.walltrack.synthetic import SYNTHETIC_DATA

ORDERS = HEAD.table("orders")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "orders.md"
TOKEN = "So11111111111111111111111111111111111111112"


def entry(**changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_type": OrderType.ENTRY, "side": OrderSide.BUY, "signal_id": "sig-1",
        "token_address": TOKEN, "amount_sol": Decimal("1.5"), "expected_price": Decimal("0.0001"),
    }
    return Order(**{**fields, **changes})


def exit_order(**changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_type": OrderType.EXIT, "side": OrderSide.SELL, "position_id": uuid4(),
        "token_address": TOKEN, "amount_sol": Decimal("2"), "expected_price": Decimal("0.0002"),
    }
    return Order(**{**fields, **changes})


def error_of(make: Any) -> str:
    with pytest.raises(pydantic.ValidationError) as info:
        make()
    return str(info.value)


# ---------------------------------------------------------------------------------------------
# The model follows the declared table
# ---------------------------------------------------------------------------------------------


KINDS = {"uuid": UUID, "varchar": str, "text": str, "integer": int, "boolean": bool, "decimal": Decimal,
         "timestamptz": pydantic.AwareDatetime}
"""The Python type of each SQL type the orders table uses."""


def _field(name: str) -> tuple[Any, bool, list[Any]]:
    """A field's type without ``None``, whether it accepts ``None``, and its constraints."""
    info = Order.model_fields[name]
    annotation: Any = info.annotation
    nullable = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = typing.get_args(annotation)
        nullable = type(None) in args
        (annotation,) = [a for a in args if a is not type(None)]
    return annotation, nullable, list(info.metadata)


def test_order_has_one_field_per_column_in_table_order() -> None:
    assert ORDERS.column_names == COLUMNS


@pytest.mark.parametrize("column", ORDERS.columns, ids=lambda c: c.name)
def test_field_type_and_nullability_follow_the_column(column: m.Column) -> None:
    annotation, nullable, metadata = _field(column.name)
    assert nullable == column.nullable, f"{column.name}: model nullable={nullable}, table {column.nullable}"
    kind = KINDS[column.type.name]
    assert annotation is kind or (kind is str and issubclass(annotation, str)), (column.name, annotation)
    max_length = next((x.max_length for x in metadata if isinstance(x, MaxLen)), None)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        assert max(len(e.value) for e in annotation) <= column.type.args[0]  # an enum fits its varchar
    elif column.type.name == "varchar":
        assert max_length == column.type.args[0], column.name
    elif column.type.name == "text":
        assert max_length is None, column.name
    if column.type.name == "decimal":
        digits = next(x for x in metadata if hasattr(x, "max_digits"))
        assert (digits.max_digits, digits.decimal_places) == column.type.args, column.name


@pytest.mark.parametrize(
    ("enum", "check"),
    [(OrderType, "orders_order_type_check"), (OrderSide, "orders_side_check"),
     (OrderStatus, "orders_status_check")],
)
def test_enums_are_the_checks_allowed_values_and_fit_the_column(enum: Any, check: str) -> None:
    found = next(c for c in ORDERS.checks if c.name == check).allowed_values()
    assert found is not None
    column, allowed = found
    assert [e.value for e in enum] == list(allowed)
    width = ORDERS.column(column).type.args[0]
    assert max(len(e.value) for e in enum) <= width


def test_defaults_are_the_tables(orders_db: psycopg.Connection) -> None:
    """Insert only the required columns and compare what PostgreSQL fills in with Order's defaults."""
    with orders_db.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO walltrack.orders (order_type, side, signal_id, token_address, amount_sol, expected_price)"
            " VALUES ('entry', 'buy', 'sig-1', %s, 1.5, 0.0001) RETURNING *, now() AS db_now",
            (TOKEN,),
        ).fetchone()
    assert row is not None
    ours = entry()
    for column in ORDERS.columns:
        if column.name in ("id", "created_at", "updated_at"):
            continue
        value = getattr(ours, column.name)
        assert row[column.name] == (value.value if hasattr(value, "value") else value), column.name
    assert isinstance(ours.id, UUID) and ours.id != entry().id
    assert ours.id.version == row["id"].version == 7  # time-ordered on both sides (V12)
    assert row["created_at"] == row["updated_at"] == row["db_now"]
    assert ours.created_at.tzinfo is not None and ours.updated_at.tzinfo is not None
    assert abs(ours.created_at - datetime.now(timezone.utc)) < timedelta(seconds=5)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def test_minimal_entry_order() -> None:
    order = entry()
    assert order.status is OrderStatus.PENDING
    assert (order.max_slippage_bps, order.attempt_count, order.max_attempts) == (100, 0, 3)
    assert order.is_simulated is False
    assert (order.slippage_bps, order.can_retry, order.is_terminal) == (None, False, False)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: entry(side=OrderSide.SELL), ["entry order is a buy", "not a sell"]),
        (lambda: exit_order(side=OrderSide.BUY), ["exit order is a sell"]),
        (lambda: entry(signal_id=None), ["entry order needs the signal_id"]),
        (lambda: exit_order(position_id=None), ["exit order needs the position_id"]),
        (lambda: entry(amount_sol=Decimal("0")), ["amount_sol", "greater than 0"]),
        (lambda: entry(amount_sol=Decimal("-1")), ["amount_sol", "greater than 0"]),
        (lambda: entry(amount_tokens=Decimal("0")), ["amount_tokens", "greater than 0"]),
        (lambda: entry(expected_price=Decimal("0")), ["expected_price", "greater than 0"]),
        (lambda: entry(actual_price=Decimal("-0.1")), ["actual_price", "greater than 0"]),
        (lambda: entry(amount_sol=Decimal("0.000000001")), ["amount_sol", "8 decimal places"]),
        (lambda: entry(amount_sol=Decimal("1e12")), ["amount_sol", "12 digits before the decimal point"]),
        (lambda: entry(max_slippage_bps=-1), ["max_slippage_bps"]),
        (lambda: entry(max_slippage_bps=10_001), ["max_slippage_bps", "less than or equal to 10000"]),
        (lambda: entry(attempt_count=-1), ["attempt_count"]),
        (lambda: entry(max_attempts=0), ["max_attempts"]),
        (lambda: entry(attempt_count=4), ["attempt_count 4 exceeds max_attempts 3"]),
        (lambda: entry(token_address="x" * 45), ["token_address", "44 characters"]),
        (lambda: entry(token_address=""), ["token_address"]),
        (lambda: entry(signal_id="s" * 101), ["signal_id", "100 characters"]),
        (lambda: entry(status="done"), ["status", "pending"]),
        (lambda: entry(order_type="limit"), ["order_type", "entry"]),
        (lambda: entry(filled_at=datetime(2026, 1, 1)), ["filled_at", "timezone"]),
        (lambda: entry(next_retry_at=datetime(2026, 1, 1)), ["next_retry_at", "timezone"]),
        (lambda: entry(stauts="pending"), ["stauts", "Extra inputs are not permitted"]),
    ],
)
def test_invalid_orders_fail_with_a_clear_error(make: Any, words: list[str]) -> None:
    message = error_of(make)
    for word in words:
        assert word in message, f"{word!r} not in: {message}"


EXAMPLES = [
    pytest.param(check.name, dict(row), accepted, id=f"{check.name}-{'accepts' if accepted else 'rejects'}-{i}")
    for check in ORDERS.checks
    for accepted, rows in ((True, check.accepts), (False, check.rejects))
    for i, row in enumerate(rows)
]


@pytest.mark.parametrize(("check", "row", "accepted"), EXAMPLES)
def test_the_model_accepts_and_rejects_the_head_checks_examples(check: str, row: dict[str, Any],
                                                                accepted: bool) -> None:
    """Each example row of head's CHECKs (a valid entry order with the columns named changed): the
    model agrees with the database, so a refusal by a CHECK never first shows up as SQLSTATE 23514."""
    fields = {**column_values(entry()), **row}
    if accepted:
        Order.model_validate(fields)
    else:
        with pytest.raises(pydantic.ValidationError):
            Order.model_validate(fields)


def test_every_head_check_without_examples_is_an_enum() -> None:
    plain = {c.name for c in ORDERS.checks if not (c.accepts or c.rejects)}
    assert plain == {"orders_order_type_check", "orders_side_check", "orders_status_check"}


def test_an_entry_order_may_name_the_position_it_opened() -> None:
    position = uuid4()
    assert entry(position_id=position).position_id == position


def test_order_is_immutable_and_copies_are_revalidated_before_writing() -> None:
    order = entry()
    with pytest.raises(pydantic.ValidationError):
        order.status = OrderStatus.SUBMITTED  # type: ignore[misc]
    bad = order.model_copy(update={"amount_sol": Decimal("-3")})  # model_copy does not validate
    assert bad.amount_sol == Decimal("-3")
    assert "amount_sol" in error_of(lambda: revalidated(bad))
    by_string = revalidated(order.model_copy(update={"status": "submitted"}))
    assert by_string.status is OrderStatus.SUBMITTED


def test_column_values_bind_enums_by_value() -> None:
    values = column_values(entry())
    assert list(values) == list(COLUMNS)
    assert (values["order_type"], values["side"], values["status"]) == ("entry", "buy", "pending")
    assert type(values["status"]) is str


# ---------------------------------------------------------------------------------------------
# Computed fields
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual", "bps"),
    [
        ("0.0001", None, None),
        ("0.0001", "0.0001", 0),
        ("0.0001", "0.000102", 200),
        ("0.0001", "0.000098", 200),
        ("1", "1.00005", 1),  # 0.5 bps rounds away from zero, as PostgreSQL's round(numeric)
        ("1", "1.000049", 0),
        ("3", "3.1", 333),
    ],
)
def test_slippage_bps(expected: str, actual: str | None, bps: int | None) -> None:
    order = entry(expected_price=Decimal(expected), actual_price=None if actual is None else Decimal(actual))
    assert order.slippage_bps == bps


def test_slippage_bps_equals_the_order_history_view_on_synthetic_data(orders_db: psycopg.Connection) -> None:
    params = synthetic_parameters(3000)
    for statement in SYNTHETIC_DATA:
        orders_db.execute(statement, params)
    with orders_db.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT o.*, h.slippage_bps AS view_bps FROM walltrack.orders o"
            " JOIN walltrack.order_history h USING (id)"
        ).fetchall()
    assert len(rows) == 3000
    with_price = 0
    for row in rows:
        view_bps = row.pop("view_bps")
        order = Order.model_validate(row)
        assert order.slippage_bps == (None if view_bps is None else int(view_bps)), order.id
        with_price += view_bps is not None
    assert with_price > 2000  # 85 % are filled, with an actual price


@pytest.mark.parametrize("status", list(OrderStatus))
def test_can_retry_and_is_terminal(status: OrderStatus) -> None:
    fresh = entry(status=status, attempt_count=1)
    spent = entry(status=status, attempt_count=3)
    assert fresh.can_retry is (status is OrderStatus.FAILED)
    assert spent.can_retry is False
    assert fresh.is_terminal is (status in (OrderStatus.FILLED, OrderStatus.CANCELLED))


def test_can_retry_honours_each_orders_max_attempts() -> None:
    assert entry(status=OrderStatus.FAILED, attempt_count=3, max_attempts=5).can_retry
    assert not entry(status=OrderStatus.FAILED, attempt_count=2, max_attempts=2).can_retry


def test_computed_fields_are_dumped_but_not_columns() -> None:
    dumped = entry(actual_price=Decimal("0.000102")).model_dump()
    assert (dumped["slippage_bps"], dumped["can_retry"], dumped["is_terminal"]) == (200, False, False)
    assert not {"slippage_bps", "can_retry", "is_terminal"} & set(COLUMNS)


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------

P, SUB, CONF, FILL, FAIL, CANC = (OrderStatus(s) for s in
                                  ("pending", "submitted", "confirming", "filled", "failed", "cancelled"))
ALLOWED = {
    (P, SUB), (P, FAIL), (P, CANC),
    (SUB, CONF), (SUB, FAIL), (SUB, CANC),
    (CONF, FILL), (CONF, FAIL), (CONF, CANC),
    (FAIL, P), (FAIL, SUB), (FAIL, CANC),
}


@pytest.mark.parametrize("current", list(OrderStatus))
@pytest.mark.parametrize("target", list(OrderStatus))
def test_every_pair_of_statuses(current: OrderStatus, target: OrderStatus) -> None:
    assert can_follow(current, target) is (current == target or (current, target) in ALLOWED)
    stored = entry(status=current, attempt_count=1)
    changed = stored.model_copy(update={"status": target})
    if current == target or (current, target) in ALLOWED:
        check_transition(stored, changed)
    else:
        with pytest.raises(InvalidTransitionError) as info:
            check_transition(stored, changed)
        text = str(info.value)
        assert str(stored.id) in text and repr(current.value) in text and repr(target.value) in text
        assert (info.value.order_id, info.value.current, info.value.target) == (stored.id, current, target)


def test_terminal_statuses_are_filled_and_cancelled() -> None:
    assert {FILL, CANC} == TERMINAL
    assert FAIL not in TERMINAL
    assert "is terminal" in _transition_error(entry(status=FILL), P)


def test_a_retry_needs_attempts_left() -> None:
    spent = entry(status=FAIL, attempt_count=3)
    for target in (P, SUB):
        assert "no attempts left (3 of 3 used)" in _transition_error(spent, target)
    check_transition(spent, spent.model_copy(update={"status": CANC}))  # cancelling is still allowed


def test_a_new_order_starts_pending() -> None:
    check_new(entry())
    with pytest.raises(InvalidTransitionError, match="from a new order to 'filled'"):
        check_new(entry(status=FILL))


def test_the_lifecycle_table_in_the_docs_is_the_code() -> None:
    """docs/orders.md has a from x to table; a ✓ marks an allowed transition."""
    lines = [line for line in DOCS.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    header = next(i for i, line in enumerate(lines) if line.startswith("| from"))
    targets = [c.strip().strip("`") for c in lines[header].strip("|").split("|")[1:]]
    assert targets == [s.value for s in OrderStatus]
    documented = set()
    for line in lines[header + 2: header + 2 + len(OrderStatus)]:  # after the --- row
        cells = [c.strip() for c in line.strip("|").split("|")]
        current = OrderStatus(cells[0].strip("`"))
        allowed = [OrderStatus(t) for t, cell in zip(targets, cells[1:], strict=True) if cell.startswith("✓")]
        documented |= {(current, target) for target in allowed}
    assert documented == {(a, b) for a, nxt in TRANSITIONS.items() for b in nxt}


def _transition_error(stored: Order, target: OrderStatus) -> str:
    with pytest.raises(InvalidTransitionError) as info:
        check_transition(stored, stored.model_copy(update={"status": target}))
    return str(info.value)


def test_docs_name_every_story_bug() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for method in ("create", "update", "get_by_id", "get_by_signal", "get_pending_retries", "count_by_status"):
        assert re.search(rf"`{method}`", text), method
