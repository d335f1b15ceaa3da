"""V1: schema ``walltrack`` and the tables the story's V9 reads.

These stand in for tables that earlier WallTrack stories created (positions, signals and the
configuration audit log). They carry only the columns V9 uses; every column but the key is
nullable or defaulted, so a test can insert a parent row by its key alone.
"""

from __future__ import annotations

from orders_schema.declare.model import (
    TEXT,
    TIMESTAMPTZ,
    UUID,
    Column,
    Comment,
    Phase,
    PrimaryKey,
    Schema,
    Table,
    Version,
    decimal,
    varchar,
)

POSITIONS = Table(
    name="positions",
    columns=(
        Column(name="id", type=UUID, nullable=False, default="gen_random_uuid()"),
        Column(name="entry_price", type=decimal(30, 12)),
        Column(name="entry_amount_sol", type=decimal(20, 8)),
        Column(name="created_at", type=TIMESTAMPTZ, nullable=False, default="NOW()"),
    ),
    primary_key=PrimaryKey(columns=("id",)),
)

SIGNALS = Table(
    name="signals",
    columns=(
        Column(name="id", type=varchar(100), nullable=False),
        Column(name="score", type=decimal(10, 4)),
        Column(name="created_at", type=TIMESTAMPTZ, nullable=False, default="NOW()"),
    ),
    primary_key=PrimaryKey(columns=("id",)),
)

CONFIG_AUDIT_LOG = Table(
    name="config_audit_log",
    columns=(
        Column(name="id", type=UUID, nullable=False, default="gen_random_uuid()"),
        Column(name="config_table", type=varchar(50)),
        Column(name="config_key", type=varchar(100)),
        Column(name="old_value", type=TEXT),
        Column(name="new_value", type=TEXT),
        Column(name="changed_by", type=varchar(100)),
        Column(name="reason", type=TEXT),
        Column(name="changed_at", type=TIMESTAMPTZ, nullable=False, default="NOW()"),
    ),
    primary_key=PrimaryKey(columns=("id",)),
)

SCHEMA_V1 = Schema(name="walltrack", tables=(POSITIONS, SIGNALS, CONFIG_AUDIT_LOG))

V1 = Version(
    number=1,
    name="walltrack_baseline",
    header=(
        "WallTrack baseline: schema and the tables the orders migration (V9) reads",
        "Version: V1",
        "",
        "Stand-ins for tables earlier WallTrack stories created; only the columns V9 uses.",
    ),
    create_schema=True,
    state=SCHEMA_V1,
    phases=(
        Phase(
            title="PHASE 1: TABLES V9 DEPENDS ON",
            items=(
                Comment(text="Positions (EXIT orders reference them)"),
                POSITIONS,
                Comment(text="Signals (ENTRY orders reference them)"),
                SIGNALS,
                Comment(text="Configuration audit log (order status changes are logged here)"),
                CONFIG_AUDIT_LOG,
            ),
        ),
    ),
)
