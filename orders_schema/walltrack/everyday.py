"""The everyday changes: one declared change each against WallTrack's head, as a team makes them.

Each :class:`Everyday` is the head declarations with one change (a column, an index, a
constraint, a type, a rename, a view, a trigger), the name ``generate`` gets, and what undoing it
loses. The round trip (:func:`orders_schema.tester.roundtrip.round_trip`) takes every one through
generate, check, apply, verify, undo, verify, apply, verify on a database holding synthetic
orders: ``tests/test_roundtrip.py`` at a few thousand rows, the benchmark (``--only roundtrip``)
at 200k.
"""

from __future__ import annotations

from dataclasses import dataclass

from orders_schema.declare.model import (
    SMALLINT,
    TEXT,
    Check,
    Column,
    ForeignKey,
    Function,
    Index,
    Schema,
    Table,
    Trigger,
    Unique,
    View,
    decimal,
    varchar,
)
from orders_schema.walltrack import head as h
from orders_schema.walltrack import story


@dataclass(frozen=True)
class Everyday:
    """One everyday change: ``name`` (the version's name), what it does, the head with it."""

    name: str
    title: str
    schema: Schema
    undo_loses: tuple[str, ...] = ()
    """What undoing it loses (``generate``'s marker lines; ``undo`` refuses it without leave)."""


def _head(*objects: Table | View | Function) -> Schema:
    """The head with ``objects`` in place of those of the same name (a renamed table in place of
    the one it was), new ones appended, then WallTrack's access control (:func:`head.hardened`)
    over it all; validated as one schema."""
    def merged(current: tuple[Table | View | Function, ...], kind: type) -> tuple[object, ...]:
        new = [o for o in objects if isinstance(o, kind)]
        by_name = {getattr(o, "renamed_from", None) or o.name: o for o in new}
        kept = [by_name.get(o.name, o) for o in current]
        return (*kept, *(o for o in new if o not in kept))
    base = h.UNHARDENED  # the change is made to the declarations, then hardened as the head is
    return h.hardened(base.replace(tables=merged(base.tables, Table), views=merged(base.views, View),
                                   functions=merged(base.functions, Function)))


def _orders(**update: object) -> Schema:
    return _head(h.ORDERS.replace(**update))


def _history_query(old: str, new: str) -> View:
    if old not in story.ORDER_HISTORY.query:
        raise ValueError(f"order_history's query has no {old!r} to change")
    return story.ORDER_HISTORY.replace(query=story.ORDER_HISTORY.query.replace(old, new))


_C = h.ORDERS.columns
FEE = Column(name="fee_sol", type=decimal(20, 8))
VENUE = Column(name="venue", type=varchar(20))
OPEN_ORDERS = View(
    name="open_orders",
    query="SELECT o.* FROM walltrack.orders o WHERE o.status IN ('pending', 'submitted', 'confirming')",
)
NORMALISE_SYMBOL = Function(
    name="normalise_token_symbol",
    settings=h.PINNED,
    body="\nBEGIN\n    NEW.token_symbol = upper(NEW.token_symbol);\n    RETURN NEW;\nEND;\n",
)
SLIPPAGE = "orders_max_slippage_bps_range"


def _replace_check() -> Schema:
    checks = tuple(c for c in h.ORDERS.checks if c.name != SLIPPAGE)
    limit = Check(name="orders_max_slippage_bps_limit", expression="max_slippage_bps BETWEEN 0 AND 5000")
    return _orders(checks=(*checks, limit))


def _table(name: str) -> Table:
    return next(t for t in h.HEAD.tables if t.name == name)


def _rename_table() -> Schema:
    view = _history_query("LEFT JOIN walltrack.signals s", "LEFT JOIN walltrack.trade_signals s")
    return _head(_table("signals").replace(name="trade_signals", renamed_from="signals"), view)


def _rename_column() -> Schema:
    positions = _table("positions")
    columns = tuple(c.replace(name="entry_size_sol", renamed_from=c.name) if c.name == "entry_amount_sol" else c
                    for c in positions.columns)
    view = _history_query("p.entry_amount_sol AS position_entry_sol", "p.entry_size_sol AS position_entry_sol")
    return _head(positions.replace(columns=columns), view)


def _widen() -> Schema:
    wider = {"status": varchar(40), "amount_sol": decimal(30, 8)}
    return _orders(columns=tuple(c.replace(type=wider[c.name]) if c.name in wider else c for c in _C))


def _body(text: str) -> Schema:
    return _head(h.UPDATE_ORDERS_TIMESTAMP.replace(body=text))


LOST = "drop column walltrack.orders."

EVERYDAY: tuple[Everyday, ...] = (
    Everyday("add_note", "add a nullable column", _orders(columns=(*_C, Column(name="note", type=TEXT))),
             (LOST + "note",)),
    Everyday("add_priority", "add a NOT NULL column with a default",
             _orders(columns=(*_C, Column(name="priority", type=SMALLINT, nullable=False, default="0"))),
             (LOST + "priority",)),
    Everyday(
        "add_fee", "add a column with a CHECK on it, and an index",
        _orders(columns=(*_C, FEE),
                checks=(*h.ORDERS.checks, Check(name="orders_fee_sol_non_negative",
                                                expression="fee_sol IS NULL OR fee_sol >= 0")),
                indexes=(*h.ORDERS.indexes, Index(name="idx_orders_token_created",
                                                  columns=("token_address", "created_at DESC")))),
        (LOST + "fee_sol",),
    ),
    Everyday("add_index", "add an index",
             _orders(indexes=(*h.ORDERS.indexes, Index(name="idx_orders_token", columns=("token_address",))))),
    Everyday("drop_index", "drop an index",
             _orders(indexes=tuple(i for i in h.ORDERS.indexes if i.name != story.IDX_CREATED.name))),
    Everyday("add_signal_fk", "add a foreign key",
             _orders(foreign_keys=(*h.ORDERS.foreign_keys, ForeignKey(
                 name="orders_signal_id_fkey", columns=("signal_id",), ref_table="signals", ref_columns=("id",))))),
    Everyday("unique_tx_signature", "add a UNIQUE constraint",
             _orders(uniques=(*h.ORDERS.uniques, Unique(name="orders_tx_signature_key", columns=("tx_signature",))))),
    Everyday("widen_types", "widen a type: varchar(20) -> varchar(40), numeric(20, 8) -> numeric(30, 8)", _widen()),
    Everyday("rename_entry_size", "rename a column (and the view reading it)", _rename_column()),
    Everyday("rename_signals", "rename a table (and the view reading it)", _rename_table()),
    Everyday("history_max_attempts", "change a view's query",
             _head(_history_query("    o.filled_at,\n", "    o.filled_at,\n    o.max_attempts,\n"))),
    Everyday("add_venue_open_orders", "add a column that views read through *: order_stats (o.* in a subquery) "
             "and a new view open_orders (SELECT o.*)",
             _head(h.ORDERS.replace(columns=(*_C, VENUE)), OPEN_ORDERS), (LOST + "venue",)),
    Everyday("clock_timestamp", "change a trigger function's body",
             _body("\nBEGIN\n    NEW.updated_at = clock_timestamp();\n    RETURN NEW;\nEND;\n")),
    Everyday(
        "normalise_symbol", "add a trigger (and its function)",
        _head(h.ORDERS.replace(triggers=(*h.ORDERS.triggers, Trigger(
            name="trg_orders_normalise_symbol", timing="BEFORE", events=("INSERT", "UPDATE"),
            update_of=("token_symbol",), function=NORMALISE_SYMBOL.name,
        ))), NORMALISE_SYMBOL),
    ),
    Everyday("slippage_limit", "change a CHECK's expression (a new CHECK replaces the old one)", _replace_check()),
)
"""Every everyday change, in the order the round trip runs them."""
