"""Several schemas planned together (issue 13): statements ordered by the dependencies between
schemas, not schema by schema nor by name.

Each case puts an object in one schema that needs an object of another: a foreign key from
``app.orders`` to ``ref.codes``, a view of ``api`` reading ``app.orders``, a default of ``app``
calling ``util.next_code()``, a column of ``app`` typed ``types.mood`` (and two schemas whose
tables reference each other). Each is proved on a real server, its script run by psql (stop at the
first error): from scratch (``diff EMPTY DB`` and the whole-schema creation of the declarations
read back), as one migration adding both sides to schemas that already exist, and as one
dropping both; each time nothing is left to diff.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest

from orders_schema.declare import model as m
from orders_schema.live.declare import read_declarations
from orders_schema.live.schema_diff import Side, diff_sides, render
from orders_schema.migrate import together
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.harness import Databases
from tests.conftest import psql


@dataclass(frozen=True)
class Case:
    id: str
    schemas: tuple[str, ...]
    """In an order where the one that is used comes after the one that uses it (by name, too)."""
    sql: str


CASES = [
    Case("fk_app_to_ref", ("app", "ref"), """
        CREATE TABLE ref.codes (code text PRIMARY KEY, label text NOT NULL);
        CREATE TABLE app.orders (id bigint PRIMARY KEY, code text NOT NULL REFERENCES ref.codes (code));
    """),
    Case("view_api_reads_app", ("api", "app"), """
        CREATE TABLE app.orders (id bigint PRIMARY KEY, total numeric(12, 2) NOT NULL);
        CREATE VIEW api.orders AS SELECT id, total FROM app.orders WHERE total > 0;
        CREATE VIEW api.big_orders AS SELECT id FROM api.orders WHERE total > 100;
    """),
    Case("default_calls_util", ("app", "util"), """
        CREATE FUNCTION util.next_code() RETURNS text LANGUAGE sql VOLATILE
            AS $$ SELECT 'c' || (random() * 1000)::int::text $$;
        CREATE TABLE app.orders (id bigint PRIMARY KEY, code text NOT NULL DEFAULT util.next_code());
    """),
    Case("column_of_types", ("app", "types"), """
        CREATE TYPE types.mood AS ENUM ('sad', 'ok', 'glad');
        CREATE DOMAIN types.amount AS numeric(12, 2) CHECK (VALUE >= 0);
        CREATE TABLE app.orders (id bigint PRIMARY KEY, mood types.mood NOT NULL DEFAULT 'ok',
                                 total types.amount NOT NULL);
    """),
    Case("tables_reference_each_other", ("app", "ref"), """
        CREATE TABLE app.orders (id bigint PRIMARY KEY, code text NOT NULL);
        CREATE TABLE ref.codes (code text PRIMARY KEY, first_order bigint REFERENCES app.orders (id));
        ALTER TABLE app.orders ADD CONSTRAINT orders_code_fkey FOREIGN KEY (code) REFERENCES ref.codes (code);
    """),
]


def _run(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


def _base(case: Case) -> str:
    """The schemas, each with a table of its own, so that adding and dropping the case's objects
    creates or drops no schema."""
    return "".join(f"CREATE SCHEMA {s}; CREATE TABLE {s}.keep (id int PRIMARY KEY);" for s in case.schemas)


def _apply_diff(dbs: Databases, source: str, target: str, on: str) -> str:
    """``orders-schema diff source target`` run by psql on ``on``; the script."""
    script = render(diff_sides(Side("FROM", {}, dsn=dbs.server.dsn(source)),
                               Side("TO", {}, dsn=dbs.server.dsn(target))), source, target)
    assert "-- no differences" not in script
    done = psql(dbs, on, script)
    assert done.returncode == 0, f"{done.stderr}\n--- script:\n{script}"
    return script


def _same(dbs: Databases, a: str, b: str, script: str = "") -> None:
    left = diff_sides(Side("A", {}, dsn=dbs.server.dsn(a)), Side("B", {}, dsn=dbs.server.dsn(b)))
    assert all(d.empty for d in left), render(left, a, b) + f"\n--- after the script:\n{script}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_schemas_are_created_added_and_dropped_in_dependency_order(case: Case, dbs: Databases) -> None:
    names = [dbs.empty("orders_schema_together") for _ in range(4)]
    base, target, work, declared = names
    try:
        _run(dbs.server.dsn(base), _base(case))
        _run(dbs.server.dsn(target), _base(case) + case.sql)

        # from scratch: the live database diffed from an empty one
        _same(dbs, work, target, _apply_diff(dbs, work, target, on=work))

        # from scratch: the declarations read back, created together
        with psycopg.connect(dbs.server.dsn(target)) as conn:
            schemas = [read_declarations(conn, s) for s in case.schemas]
        assert all(not s.undeclared for s in schemas), [s.report() for s in schemas]
        script = RENDERER.script(together.create_statements([s.schema for s in schemas]))
        done = psql(dbs, declared, script)
        assert done.returncode == 0, f"{done.stderr}\n--- script:\n{script}"
        _same(dbs, declared, target, script)

        # one migration adding both sides to schemas that exist, then one dropping both
        dbs.drop(work)
        work = names[2] = dbs.empty("orders_schema_together")
        _run(dbs.server.dsn(work), _base(case))
        _same(dbs, work, target, _apply_diff(dbs, base, target, on=work))
        _same(dbs, work, base, _apply_diff(dbs, target, base, on=work))
    finally:
        for name in names:
            dbs.drop(name)


def test_schema_order_puts_what_a_schema_uses_first() -> None:
    codes = m.Table(name="codes", columns=(m.Column(name="code", type=m.TEXT, nullable=False),),
                    primary_key=m.PrimaryKey(columns=("code",)))
    orders = m.Table(
        name="orders", columns=(m.Column(name="id", type=m.BIGINT, nullable=False),
                                m.Column(name="code", type=m.TEXT, nullable=False)),
        primary_key=m.PrimaryKey(columns=("id",)),
        foreign_keys=(m.ForeignKey(name="orders_code_fkey", columns=("code",), ref_table="ref.codes",
                                   ref_columns=("code",)),),
    )
    api = m.Schema(name="api", views=(m.View(name="orders", query="SELECT id FROM app.orders"),),
                   external_tables=("app.orders",))
    app, ref = m.Schema(name="app", tables=(orders,)), m.Schema(name="ref", tables=(codes,))
    assert together.schema_order([api, app, ref]) == ["ref", "app", "api"]
    assert together.schema_order([ref, app]) == ["ref", "app"]
    # a name that merely starts like another schema is no reference to it
    apples = m.Schema(name="apples", views=(m.View(name="v", query="SELECT app_id FROM apples.t"),),
                      tables=(m.Table(name="t", columns=(m.Column(name="app_id", type=m.INTEGER),)),))
    assert together.uses(apples, ["app", "apples"]) == set()
