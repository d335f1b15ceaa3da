"""The tester's derived rows leave to the server what it fills itself: identity columns (ALWAYS
ones may not be named in an INSERT at all), serial columns and generated columns. A project read
back by `init` from a database with such columns must pass its own derived cases."""

from __future__ import annotations

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare.project import Project
from orders_schema.migrate import plan
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.checks import constraints, run_cases
from orders_schema.tester.checks.rows import RowFactory, server_filled
from orders_schema.tester.harness import Databases

ITEMS = m.Table(
    name="items",
    columns=(
        m.Column(name="id", type=m.BIGINT, nullable=False, identity=m.Identity(generated="ALWAYS")),
        m.Column(name="no", type=m.INTEGER, nullable=False, serial=True),
        m.Column(name="alt", type=m.BIGINT, nullable=False, identity=m.Identity(generated="BY DEFAULT")),
        m.Column(name="qty", type=m.INTEGER, nullable=False),
        m.Column(name="price", type=m.INTEGER, nullable=False),
        m.Column(name="total", type=m.INTEGER, generated="qty * price"),
    ),
    primary_key=m.PrimaryKey(columns=("id",)),
    checks=(m.Check(name="items_qty_positive", expression="qty > 0"),),
)
SCHEMA = m.Schema(name="filled", tables=(ITEMS,))


def test_what_the_server_fills_is_left_to_it() -> None:
    by_name = {c.name: c for c in ITEMS.columns}
    assert [n for n, c in by_name.items() if server_filled(c)] == ["id", "no", "alt", "total"]
    # a value can be asked for where an INSERT may give one: BY DEFAULT identity, serial
    assert [n for n, c in by_name.items() if server_filled(c, required=True)] == ["id", "total"]


def test_derived_rows_and_cases_pass_on_identity_serial_and_generated_columns(orders_databases: Databases) -> None:
    name = orders_databases.empty("server_filled_")
    try:
        with psycopg.connect(orders_databases.server.dsn(name)) as conn:
            conn.execute(RENDERER.script(plan.create_statements(SCHEMA)).encode())
            with conn.transaction(force_rollback=True):
                factory = RowFactory(conn, SCHEMA)
                assert sorted(factory.values(ITEMS)) == ["price", "qty"]  # the INSERT names no other column
                row = factory.insert_valid(ITEMS)  # the row as stored
                assert None not in (row["id"], row["no"], row["alt"]) and row["total"] == row["qty"] * row["price"]
            with conn.transaction(force_rollback=True):
                report = run_cases(conn, constraints.cases(Project(schema=SCHEMA, versions=())))
            assert report.results and report.ok(), report.summary()
    finally:
        orders_databases.drop(name)
