"""The behaviour engine on a small project that is not WallTrack ("shop").

The project has what WallTrack's V9 lacks: a foreign key, UNIQUE constraints, a NOT NULL key without a
default, CHECKs with and without examples, a CHECK tying two columns that the row derivation
cannot satisfy alone, and a column whose name needs quoting (and holds a ``%``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import psycopg
import pytest

from orders_schema.declare.behaviour import AuditsChange, Const, New, Old, TouchesOnUpdate, ValidRow
from orders_schema.declare.model import (
    BIGINT,
    INTEGER,
    SMALLINT,
    TEXT,
    TIMESTAMPTZ,
    UUID,
    Check,
    Column,
    ForeignKey,
    Function,
    PrimaryKey,
    Schema,
    Table,
    Trigger,
    Unique,
    numeric,
    varchar,
)
from orders_schema.declare.project import Project
from orders_schema.migrate import plan
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.checks import Case, CaseResult, Report, cases, constraints, run_case, run_cases, triggers
from orders_schema.tester.checks.rows import RowError, RowFactory, RowRejected
from orders_schema.tester.harness import Databases

CUSTOMERS = Table(
    name="customers",
    columns=(
        Column(name="id", type=BIGINT, nullable=False),
        Column(name="email", type=TEXT, nullable=False),
        Column(name="tier", type=varchar(8), nullable=False, default="'basic'"),
        Column(name="rate%", type=INTEGER, nullable=False),
        Column(name="updated_at", type=TIMESTAMPTZ, nullable=False, default="now()"),
    ),
    primary_key=PrimaryKey(columns=("id",)),
    checks=(Check.one_of("customers_tier_check", "tier", ("basic", "gold")),),
    uniques=(Unique(name="customers_email_key", columns=("email",)),),
)

ORDERS = Table(
    name="orders",
    columns=(
        Column(name="id", type=UUID, nullable=False, default="gen_random_uuid()"),
        Column(name="customer_id", type=BIGINT, nullable=False),
        Column(name="qty", type=INTEGER, nullable=False),
        Column(name="price", type=numeric(10, 2), nullable=False),
        Column(name="discount", type=numeric(10, 2)),
        Column(name="state", type=varchar(10), nullable=False, default="'new'"),
        Column(name="note", type=TEXT),
    ),
    primary_key=PrimaryKey(columns=("id",)),
    checks=(
        Check(name="orders_qty_check", expression="qty > 0", accepts=({"qty": 1}, {"qty": 500}),
              rejects=({"qty": 0}, {"qty": -1})),
        Check(name="orders_discount_check", expression="discount <= price"),
        Check.one_of("orders_state_check", "state", ("new", "paid", "shipped")),
        # The derived row (state by default 'new', note NULL) violates this one; the factory
        # repairs the row with this check's own accepted example.
        Check(name="orders_new_has_note", expression="state <> 'new' OR note IS NOT NULL",
              accepts=({"note": "fresh"},), rejects=({"state": "new", "note": None},)),
    ),
    foreign_keys=(
        ForeignKey(name="orders_customer_fk", columns=("customer_id",), ref_table="customers", ref_columns=("id",)),
    ),
    triggers=(
        Trigger(name="orders_audit", timing="AFTER", events=("UPDATE",), function="audit_state"),
    ),
)

RANGES = Table(
    name="ranges",
    columns=(
        Column(name="lo", type=INTEGER, nullable=False),
        Column(name="hi", type=INTEGER, nullable=False),
    ),
    checks=(Check(name="ranges_order_check", expression="lo < hi"),),
)

AUDIT = Table(
    name="audit",
    columns=(
        Column(name="n", type=BIGINT, nullable=False, default="0"),
        Column(name="row_key", type=TEXT),
        Column(name="before", type=TEXT),
        Column(name="after", type=TEXT),
        Column(name="why", type=TEXT),
        Column(name="source", type=TEXT),
    ),
)

AUDIT_STATE = Function(
    name="audit_state",
    body="""
BEGIN
    IF OLD.state IS DISTINCT FROM NEW.state THEN
        INSERT INTO shop.audit (row_key, before, after, why, source)
        VALUES (NEW.id::text, OLD.state, NEW.state, NEW.note, 'trigger');
    END IF;
    RETURN NEW;
END;
""",
)

TOUCH = Function(name="touch", body="\nBEGIN\n    NEW.updated_at = now();\n    RETURN NEW;\nEND;\n")

CUSTOMERS_TOUCHED = CUSTOMERS.model_copy(
    update={"triggers": (Trigger(name="customers_touch", timing="BEFORE", events=("UPDATE",), function="touch"),)}
)

SHOP = Schema(
    name="shop",
    tables=(CUSTOMERS_TOUCHED, ORDERS, RANGES, AUDIT),
    functions=(AUDIT_STATE, TOUCH),
)

BEHAVIOURS = (
    ValidRow(table="ranges", values={"lo": 1, "hi": 2}),
    TouchesOnUpdate(table="customers", column="updated_at"),
    AuditsChange(
        table="orders",
        column="state",
        audit_table="audit",
        writes={"row_key": New("id"), "before": Old("state"), "after": New("state"), "why": New("note"),
                "source": Const("trigger")},
    ),
)

PROJECT = Project(schema=SHOP, versions=(), behaviours=BEHAVIOURS)


def create_sql() -> str:
    """The whole shop schema, created from nothing by the package's own planner and renderer."""
    return RENDERER.script(plan.create_statements(SHOP))


@pytest.fixture(scope="module")
def shop_dsn(dbs: Databases) -> Iterator[str]:
    """An empty database holding the shop schema at head (built by the package's own planner)."""
    name = dbs.empty("checks_shop_")
    try:
        with psycopg.connect(dbs.server.dsn(name)) as conn:
            conn.execute(create_sql())
            conn.commit()
        yield dbs.server.dsn(name)
    finally:
        dbs.drop(name)


@pytest.fixture
def shop(shop_dsn: str) -> Iterator[psycopg.Connection]:
    """A connection to the shop database; everything (DDL included) is rolled back afterwards."""
    with psycopg.connect(shop_dsn) as conn, conn.transaction(force_rollback=True):
        yield conn


def by_id(report: Report) -> dict[str, CaseResult]:
    return {r.id: r for r in report.results}


def one(project: Project, case_id: str) -> Case:
    return next(c for c in cases(project) if c.id == case_id)


def test_every_case_passes_on_the_shop_schema(shop: psycopg.Connection) -> None:
    report = run_cases(shop, [*constraints.cases(PROJECT), *triggers.cases(PROJECT)])
    assert report.ok(), report.summary()
    results = by_id(report)
    assert {"fk:orders.orders_customer_fk", "unique:customers.customers_email_key", "unique:customers.customers_pkey",
            "check:orders.orders_qty_check", "not-null:customers.rate%", "row:ranges",
            "trigger:audits:orders.state", "trigger:touches:customers.updated_at"} <= set(results)


def test_a_check_without_examples_is_a_warning_not_a_failure(shop: psycopg.Connection) -> None:
    result = run_case(one(PROJECT, "check:orders.orders_discount_check"), shop)
    assert result.outcome == "warning"
    assert "orders_discount_check" in result.message and "no examples declared" in result.message
    assert Report((result,)).ok() and not Report((result,)).ok(strict=True)


def test_the_derived_row_names_the_missing_valid_row_declaration(shop: psycopg.Connection) -> None:
    bare = replace(PROJECT, behaviours=())
    result = run_case(one(bare, "row:ranges"), shop)
    assert not result.ok
    assert "shop.ranges" in result.message and "ranges_order_check" in result.message
    assert "ValidRow(table='ranges'" in result.message
    # every case of the table explains the same root cause instead of a confusing probe failure
    assert "ValidRow" in run_case(one(bare, "not-null:ranges.lo"), shop).message


def test_a_row_rejected_by_a_check_is_repaired_with_that_checks_example(shop: psycopg.Connection) -> None:
    factory = RowFactory.for_project(shop, PROJECT)
    derived = factory.values(ORDERS)
    assert "note" not in derived and (derived["qty"], derived["price"]) == (1, Decimal(1))
    assert factory.valid(ORDERS)["note"] == "fresh"
    with pytest.raises(RowRejected, match="orders_new_has_note"):
        factory.valid(ORDERS, {"note": None})  # an override is never repaired away
    # only the parents are recorded for cleanup: the trial inserts were rolled back
    assert {table for _, table, _ in factory.inserted} == {"customers"}
    result = run_case(one(PROJECT, "row:orders"), shop)
    assert result.ok and "note = 'fresh'" in result.message


def test_a_check_accepting_outsiders_fails_listing_them(shop: psycopg.Connection) -> None:
    shop.execute("ALTER TABLE shop.customers DROP CONSTRAINT customers_tier_check")
    shop.execute(
        "ALTER TABLE shop.customers ADD CONSTRAINT customers_tier_check CHECK (lower(trim(tier)) IN ('basic', 'gold'))"
    )
    result = run_case(one(PROJECT, "check:customers.customers_tier_check"), shop)
    assert not result.ok
    for shown in ("tier = 'BASIC'", "tier = 'gold '", "tier = ' gold'"):
        assert f"{shown} was accepted; expected it to fail with 23514 (check_violation)" in result.message


def test_a_dropped_foreign_key_fails_naming_it(shop: psycopg.Connection) -> None:
    shop.execute("ALTER TABLE shop.orders DROP CONSTRAINT orders_customer_fk")
    result = run_case(one(PROJECT, "fk:orders.orders_customer_fk"), shop)
    assert not result.ok
    assert "orders_customer_fk" in result.message
    assert "missing parent" in result.message and "was accepted; expected it to fail with 23503" in result.message


def test_a_dropped_unique_constraint_fails_naming_it(shop: psycopg.Connection) -> None:
    shop.execute("ALTER TABLE shop.customers DROP CONSTRAINT customers_email_key")
    result = run_case(one(PROJECT, "unique:customers.customers_email_key"), shop)
    assert not result.ok
    assert "customers_email_key" in result.message and "23505" in result.message


def test_a_loosened_check_fails_on_its_rejected_example(shop: psycopg.Connection) -> None:
    shop.execute("ALTER TABLE shop.orders DROP CONSTRAINT orders_qty_check")
    shop.execute("ALTER TABLE shop.orders ADD CONSTRAINT orders_qty_check CHECK (qty >= 0)")
    result = run_case(one(PROJECT, "check:orders.orders_qty_check"), shop)
    assert not result.ok
    assert "qty = 0 was accepted; expected it to fail with 23514" in result.message
    assert "qty = -1" not in result.message


def test_a_violation_caught_by_another_constraint_is_reported_as_such(shop: psycopg.Connection) -> None:
    shop.execute("ALTER TABLE shop.orders DROP CONSTRAINT orders_qty_check")
    shop.execute("ALTER TABLE shop.orders ADD CONSTRAINT orders_qty_positive CHECK (qty > 0)")
    result = run_case(one(PROJECT, "check:orders.orders_qty_check"), shop)
    assert not result.ok
    assert "rejected by orders_qty_positive" in result.message


def test_an_audit_declaration_naming_a_missing_table_is_reported(shop: psycopg.Connection) -> None:
    wrong = AuditsChange(table="orders", column="state", audit_table="audit_log", writes={"x": New("id")})
    result = run_case(triggers.cases(replace(PROJECT, behaviours=(wrong,)))[0], shop)
    assert not result.ok and "shop.audit_log is not declared" in result.message


def test_the_audit_case_reads_rows_without_a_primary_key_and_names_wrong_values(shop: psycopg.Connection) -> None:
    shop.execute(
        """CREATE OR REPLACE FUNCTION shop.audit_state() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO shop.audit (row_key, before, after, why, source)
            VALUES (NEW.id::text, NEW.state, NEW.state, OLD.note, 'trigger');
            RETURN NEW;
        END $$"""
    )
    result = run_case(one(PROJECT, "trigger:audits:orders.state"), shop)
    assert not result.ok
    assert "before = 'paid' (expected 'new')" in result.message
    assert "why = " in result.message
    assert "left state unchanged" in result.message and "expected none" in result.message


def test_probes_leave_no_row_behind(shop_dsn: str) -> None:
    with psycopg.connect(shop_dsn) as conn:
        report = run_cases(conn, [*constraints.cases(PROJECT), *triggers.cases(PROJECT)])
        conn.commit()
    assert report.ok(), report.summary()
    with psycopg.connect(shop_dsn) as conn:
        counts = {t.name: conn.execute(f"SELECT count(*) FROM shop.{t.name}").fetchone() for t in SHOP.tables}
    assert counts == {t.name: (0,) for t in SHOP.tables}


def test_an_audit_declared_without_a_key_column_is_found_by_its_values(shop: psycopg.Connection) -> None:
    keyless = AuditsChange(
        table="orders", column="state", audit_table="audit",
        writes={"before": Old("state"), "after": New("state"), "why": New("note"), "source": Const("trigger")},
    )
    selected = triggers.cases(replace(PROJECT, behaviours=(keyless,)))[0]
    assert run_case(selected, shop).ok
    shop.execute(
        "CREATE OR REPLACE FUNCTION shop.audit_state() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$"
    )
    result = run_case(selected, shop)
    assert not result.ok and "state changed 'new' -> 'paid': no row was written to shop.audit" in result.message


def test_probes_pass_on_a_shop_full_of_rows_like_the_ones_they_write(shop: psycopg.Connection) -> None:
    """Customers hold every small id (the probes' integer keys once came from 1..32 000) and
    emails shaped like the probes' text keys: no probe collides, and every one still passes."""
    shop.execute(
        "INSERT INTO shop.customers (id, email, \"rate%\") "
        "SELECT g, 'p' || lpad(to_hex(g), 12, '0'), 1 FROM generate_series(1, 32000) AS g"
    )
    shop.execute("INSERT INTO shop.orders (customer_id, qty, price, note) SELECT g, 1, 1, 'x' "
                 "FROM generate_series(1, 50) AS g")
    before = shop.execute("SELECT count(*), sum(id) FROM shop.customers").fetchone()
    with shop.transaction(force_rollback=True):
        report = run_cases(shop, [*constraints.cases(PROJECT), *triggers.cases(PROJECT)])
    assert report.ok(), report.summary()
    assert shop.execute("SELECT count(*), sum(id) FROM shop.customers").fetchone() == before


def test_a_key_value_a_row_already_holds_is_never_used(shop: psycopg.Connection) -> None:
    email = CUSTOMERS.column("email")
    drawn = RowFactory(shop, SHOP, rng=random.Random(7))
    values = [drawn.type_value(email, fresh=True) for _ in range(6)]
    for n, value in enumerate(values[:5], 1):  # the first five values the factory will draw are taken
        shop.execute("INSERT INTO shop.customers (id, email, \"rate%%\") VALUES (%s, %s, 1)", [n, value])
    factory = RowFactory(shop, SHOP, rng=random.Random(7))
    assert factory.fresh_value(email, "shop", "customers") == values[5]
    # a foreign key's missing parent is looked up in the parent table too
    ids = RowFactory(shop, SHOP, rng=random.Random(11))
    taken = [ids.type_value(CUSTOMERS.column("id"), fresh=True) for _ in range(3)]
    for value in taken[:2]:
        shop.execute("INSERT INTO shop.customers (id, email, \"rate%%\") VALUES (%s, %s, 1)", [value, f"e{value}"])
    absent = RowFactory(shop, SHOP, rng=random.Random(11)).absent_key(ORDERS, ORDERS.foreign_keys[0])
    assert absent == {"customer_id": taken[2]}


def test_a_key_column_with_every_value_taken_is_reported(shop: psycopg.Connection) -> None:
    shop.execute("CREATE TABLE shop.slots (k smallint PRIMARY KEY)")
    shop.execute("INSERT INTO shop.slots SELECT g FROM generate_series(1, 32000) AS g")  # every fresh smallint
    factory = RowFactory(shop, SHOP, rng=random.Random(3))
    with pytest.raises(RowError, match=r"32 random values of type smallint were all taken in shop.slots.k"):
        factory.fresh_value(Column(name="k", type=SMALLINT, nullable=False), "shop", "slots")
