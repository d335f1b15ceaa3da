"""Derived rows and constraint cases on partitioned and inheriting tables: a row must fall in a
declared partition's bound, a partition's index enforcing the parent's key counts as the parent's
constraint, and a child table's row fills the NOT NULL columns it inherits."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from orders_schema.declare import model as m
from orders_schema.declare.project import Project
from orders_schema.migrate import plan
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.checks import constraints, run_cases
from orders_schema.tester.checks.rows import RowFactory, bound_value, inherited, partition_row
from orders_schema.tester.harness import Databases

TEXT = m.Column(name="region", type=m.sql_type("text"), nullable=False)
REGIONS = m.Table(
    name="regions", columns=(TEXT, m.Column(name="n", type=m.BIGINT, nullable=False)),
    partition_by="LIST (region)",
    partitions=(m.Partition(name="regions_eu", bound="FOR VALUES IN ('eu', 'uk')"),),
)
SPANS = m.Table(
    name="spans",
    columns=(m.Column(name="k", type=m.INTEGER, nullable=False), m.Column(name="v", type=m.INTEGER, nullable=False)),
    primary_key=m.PrimaryKey(columns=("k", "v")),
    partition_by="RANGE (k)",
    partitions=(m.Partition(name="spans_low", bound="FOR VALUES FROM (MINVALUE) TO (-100)"),
                m.Partition(name="spans_mid", bound="FOR VALUES FROM ('-100') TO (100)")),
)
BASE = m.Table(name="base", columns=(m.Column(name="id", type=m.BIGINT, nullable=False),),
               checks=(m.Check(name="base_id_positive", expression="id > 0"),))
CHILD = m.Table(name="child", columns=(m.Column(name="extra", type=m.INTEGER),), inherits=("base",))
SCHEMA = m.Schema(name="parts", tables=(REGIONS, SPANS, BASE, CHILD))


def test_bound_values_and_the_partition_a_row_takes() -> None:
    assert bound_value("'eu'") == (True, "eu") and bound_value("-5") == (True, -5)
    assert bound_value("1.5") == (True, Decimal("1.5")) and bound_value("MINVALUE") == (False, None)
    assert bound_value("'2025-01-01 00:00:00+00'::timestamptz") == (True, "2025-01-01 00:00:00+00")
    assert partition_row(REGIONS) == {"region": "eu"}
    assert partition_row(SPANS) == {"k": "-100"}  # the first partition starts at MINVALUE: no value to take
    rest = m.Partition(name="r", bound="DEFAULT")
    with_default = REGIONS.model_copy(update={"partitions": (*REGIONS.partitions, rest)})
    assert partition_row(with_default) == {}


def test_a_child_table_gets_the_columns_and_checks_it_inherits() -> None:
    full = inherited(CHILD, SCHEMA)
    assert full.column_names == ("id", "extra") and [c.name for c in full.checks] == ["base_id_positive"]
    assert inherited(BASE, SCHEMA) is BASE


def test_derived_rows_and_cases_pass_on_partitioned_and_inheriting_tables(orders_databases: Databases) -> None:
    name = orders_databases.empty("partitioned_rows_")
    try:
        with psycopg.connect(orders_databases.server.dsn(name)) as conn:
            conn.execute(RENDERER.script(plan.create_statements(SCHEMA)).encode())
            with conn.transaction(force_rollback=True):
                factory = RowFactory(conn, SCHEMA)
                assert factory.insert_valid(REGIONS)["region"] == "eu"
                assert factory.insert_valid(SPANS)["k"] == -100
                assert factory.insert_valid(CHILD)["id"] == 1
                assert factory.partition_holding(REGIONS, {"region": "uk", "n": 1}) == "regions_eu"
            with conn.transaction(force_rollback=True):
                report = run_cases(conn, constraints.cases(Project(schema=SCHEMA, versions=())))
            assert report.ok(), report.summary()
            by_id = {r.id: r.result for r in report.results}
            assert {"row:regions", "not-null:regions.region", "unique:spans.spans_pkey", "row:child",
                    "not-null:child.id"} <= set(by_id), sorted(by_id)
            assert "in partition regions_eu" in str(by_id["not-null:regions.region"]), by_id["not-null:regions.region"]
    finally:
        orders_databases.drop(name)


@pytest.mark.parametrize("bound", ["FOR VALUES IN ('eu')", "FOR VALUES FROM (1) TO (2)"])
def test_the_parsed_bound_is_the_models(bound: str) -> None:
    p = m.Partition(name="p", bound=bound)
    assert p.bound_values() and all(isinstance(v, tuple) and v for v in p.bound_values().values())
