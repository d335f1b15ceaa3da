"""Partitioned, unlogged and inheriting tables on a real PostgreSQL (issue 13).

A hand-declared V1 (RANGE, LIST with a DEFAULT partition, HASH; an unlogged table; a table that
inherits) is applied with rows in it; the head adds and drops partitions, builds an index on a
partitioned table online (ON ONLY, each partition's CONCURRENTLY, attached) and toggles UNLOGGED.
The generated versions are applied with ``apply``'s engine, compared in stored form with the head,
run again (nothing changes), and ``orders-schema diff --exit-code`` then finds nothing against a
fresh database built from the head. A live schema of those tables reads back exactly; bad
declarations get one error naming the object.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orders_schema import cli
from orders_schema.declare import model as m
from orders_schema.declare import project as p
from orders_schema.kinds.table import AttachPartition
from orders_schema.live.apply import migrate, undo_last
from orders_schema.live.compare import compare, declared_catalog
from orders_schema.live.declare import read_declarations
from orders_schema.live.inspect import inspect_schema, snapshot
from orders_schema.migrate import workflow
from orders_schema.migrate.plan import PlanError, create_statements
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.harness import Databases
from tests.conftest import psql

S = "part"


def col(name: str, type_: m.SqlType = m.INTEGER, **kw: object) -> m.Column:
    return m.Column(name=name, type=type_, **kw)  # type: ignore[arg-type]


def part(name: str, bound: str) -> m.Partition:
    return m.Partition(name=name, bound=bound)


EVENTS = m.Table(
    name="events", columns=(col("id", m.BIGINT, nullable=False), col("at", m.TIMESTAMPTZ, nullable=False),
                            col("kind", m.TEXT, default="'click'")),
    primary_key=m.PrimaryKey(columns=("id", "at")), checks=(m.Check(name="events_kind", expression="kind <> ''"),),
    partition_by="RANGE (at)",
    partitions=(part("events_2024", "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"),
                part("events_2025", "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')")))
REGIONS = m.Table(name="regions", columns=(col("id"), col("code", m.TEXT, nullable=False)),
                  partition_by="LIST (lower(code))",
                  partitions=(part("regions_eu", "FOR VALUES IN ('de', 'fr')"),
                              part("regions_us", "FOR VALUES IN ('us')"), part("regions_other", "DEFAULT")))
BUCKETS = m.Table(name="buckets", columns=(col("id", nullable=False),), primary_key=m.PrimaryKey(columns=("id",)),
                  partition_by="HASH (id)",
                  partitions=tuple(part(f"buckets_{i}", f"FOR VALUES WITH (MODULUS 2, REMAINDER {i})") for i in (0, 1)))
SCRATCH = m.Table(name="scratch", columns=(col("id"), col("note", m.TEXT)))
BASE = m.Table(name="base", columns=(col("id", nullable=False), col("note", m.TEXT)),
               checks=(m.Check(name="base_note", expression="note <> ''"),))
CHILD = m.Table(name="child", columns=(col("extra"),), inherits=("base",))

V1_STATE = m.Schema(name=S, tables=(EVENTS, REGIONS, BUCKETS, SCRATCH, BASE, CHILD))
V1 = m.Version(number=1, name="partitions", create_schema=True, state=V1_STATE,
               phases=(m.Phase(title="TABLES", items=V1_STATE.tables),))
HEAD = V1_STATE.replace(tables=(
    EVENTS.replace(partitions=(EVENTS.partitions[1], part("events_2026", "FOR VALUES FROM ('2026-01-01') TO "
                                                                         "('2027-01-01')")),
                   indexes=(m.Index(name="events_kind_at", columns=("kind", "at")),)),
    REGIONS.replace(partitions=(REGIONS.partitions[0], REGIONS.partitions[2],
                                part("regions_asia", "FOR VALUES IN ('jp', 'cn')"))),
    BUCKETS, SCRATCH.replace(unlogged=True), BASE, CHILD))
ALLOW = (f"drop table {S}.events_2024", f"drop table {S}.regions_us")


@pytest.fixture
def fresh(dbs: Databases) -> Iterator[str]:
    name = dbs.empty("orders_schema_part")
    yield dbs.server.dsn(name)
    dbs.drop(name)


def lines(dsn: str) -> list[str]:
    """The structure check's lines (the migration tester's snapshot) of this test's schema."""
    with psycopg.connect(dsn) as conn:
        return [line for line in snapshot(conn) if f" {S}." in line or line.endswith(f" {S}")]


def test_partitions_added_dropped_indexed_online_unlogged_toggled_settle(
    tmp_path: Path, orders_empty_dsn: str, dbs: Databases, fresh: str
) -> None:
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema"))
    proj = p.Project(schema=HEAD, versions=(V1,), schema_dir=tmp_path / "schema", allow_destructive=ALLOW)
    result = workflow.generate(proj, "partitions")
    assert result is not None
    assert result.versions == ["V2__partitions.sql", "V3__partitions_online.sql"]
    tx, online = (result.files[name] for name in result.versions)
    # an added partition is attached (SHARE UPDATE EXCLUSIVE on its table), not created PARTITION OF it
    assert f"ALTER TABLE {S}.events ATTACH PARTITION {S}.events_2026 FOR VALUES FROM ('2026-01-01')" in tx
    assert "PARTITION OF" not in tx
    assert f"ALTER TABLE {S}.scratch SET UNLOGGED;" in tx
    # a partition of a table without a DEFAULT partition is detached CONCURRENTLY, then dropped
    assert f"ALTER TABLE {S}.events DETACH PARTITION {S}.events_2024 CONCURRENTLY;" in online
    assert f"DROP TABLE IF EXISTS {S}.regions_us;" in tx  # regions has a DEFAULT partition: no CONCURRENTLY
    # the index on a partitioned table: ON ONLY, each partition's CONCURRENTLY, attached
    assert f"CREATE INDEX IF NOT EXISTS events_kind_at ON ONLY {S}.events(kind, at);" in online
    for name in ("events_2025", "events_2026"):
        assert f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name}_kind_at_idx ON {S}.{name}(kind, at);" in online
        assert f"ALTER INDEX {S}.events_kind_at ATTACH PARTITION {S}.{name}_kind_at_idx;" in online

    migrate(orders_empty_dsn, proj.schema_dir, target=1)
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {S}.events (id, at) SELECT g, '2024-06-01'::timestamptz + g * interval '1 day' "
                     "FROM generate_series(1, 500) g")  # 2024 and 2025
        conn.execute(f"INSERT INTO {S}.regions VALUES (1, 'DE'), (2, 'us'), (3, 'br')")
        conn.execute(f"INSERT INTO {S}.scratch VALUES (1, 'kept')")
    migrate(orders_empty_dsn, proj.schema_dir)

    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        assert compare(declared_catalog(HEAD, dbs), inspect_schema(conn, S)) == []
        kept = conn.execute(f"SELECT count(*), min(at) >= '2025-01-01' FROM {S}.events").fetchone()
        assert kept is not None and kept[1] is True and 0 < kept[0] < 500  # the 2024 rows went with events_2024
        assert conn.execute(f"SELECT indisvalid FROM pg_index WHERE indexrelid = '{S}.events_kind_at'::regclass"
                            ).fetchone() == (True,)
        assert conn.execute(f"SELECT relpersistence FROM pg_class WHERE oid = '{S}.scratch'::regclass").fetchone() == (
            "u",)
        assert conn.execute(f"SELECT count(*) FROM {S}.scratch").fetchone() == (1,)
        conn.execute(f"INSERT INTO {S}.events (id, at) VALUES (1000, '2026-03-01')")  # lands in the new partition

    # the structure check: the migrated schema is the one a fresh database built from the head has
    with psycopg.connect(fresh, autocommit=True) as conn:
        conn.execute(RENDERER.script(create_statements(HEAD)))
    assert lines(orders_empty_dsn) == lines(fresh)
    # each generated file runs again and changes nothing
    before = lines(orders_empty_dsn)
    dbname = orders_empty_dsn.rsplit("dbname=", 1)[-1].split()[0]
    for text in (tx, online):
        again = psql(dbs, dbname, text)
        assert again.returncode == 0, again.stderr
    assert lines(orders_empty_dsn) == before
    assert cli.main(["diff", orders_empty_dsn, fresh, "--schema", S, "--exit-code"]) == 0
    # the down scripts take the database back to V1 (the dropped partitions come back empty)
    assert undo_last(orders_empty_dsn, proj.schema_dir, allow_data_loss=True) == [2, 3]
    with psycopg.connect(orders_empty_dsn) as conn:
        assert compare(declared_catalog(V1_STATE, dbs), inspect_schema(conn, S)) == []


def test_attach_partition_takes_share_update_exclusive_on_the_parent_where_partition_of_takes_access_exclusive(
    fresh: str,
) -> None:
    with psycopg.connect(fresh) as conn:
        conn.execute(RENDERER.script(create_statements(V1_STATE)))
        conn.commit()
        locks = ("SELECT mode FROM pg_locks WHERE relation = 'part.events'::regclass AND pid = pg_backend_pid() "
                 "ORDER BY mode")
        new = part("events_2026", "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")
        conn.execute(RENDERER.statement(AttachPartition(S, "events", new)))
        assert [r[0] for r in conn.execute(locks)] == ["AccessShareLock", "ShareUpdateExclusiveLock"]
        conn.rollback()
        conn.execute(f"CREATE TABLE {S}.events_2026 PARTITION OF {S}.events {new.bound}")
        assert "AccessExclusiveLock" in [r[0] for r in conn.execute(locks)]
        conn.rollback()


def test_a_live_schema_of_partitioned_unlogged_and_inheriting_tables_reads_back_exactly(
    dbs: Databases, fresh: str
) -> None:
    with psycopg.connect(fresh, autocommit=True) as conn:
        conn.execute(RENDERER.script(create_statements(HEAD)))
        conn.execute(f"CREATE TRIGGER events_touch BEFORE UPDATE ON {S}.events FOR EACH ROW "
                     "EXECUTE FUNCTION suppress_redundant_updates_trigger()")
        declared = read_declarations(conn, S)
        source = inspect_schema(conn, S)
    # a row trigger on a partitioned table is cloned on each partition: reported once, as its table's
    assert declared.report() == ["trigger events.events_touch: its function suppress_redundant_updates_trigger "
                                 "is not declared"]
    tables = {t.name: t for t in declared.schema.tables}
    assert set(tables) == {t.name for t in HEAD.tables}  # partitions are their table's, not tables
    assert [x.name for x in tables["events"].partitions] == ["events_2025", "events_2026"]
    assert tables["regions"].partition_by == "LIST (lower(code))"
    assert [x.bound for x in tables["regions"].partitions if x.name == "regions_other"] == ["DEFAULT"]
    assert tables["child"].column_names == ("extra",) and tables["child"].inherits == ("base",)
    assert tables["child"].checks == ()  # base_note is base's
    assert tables["scratch"].unlogged
    assert [i.name for i in tables["events"].indexes] == ["events_kind_at"]  # not one per partition
    copy = dbs.empty("orders_schema_part_copy")
    try:
        with psycopg.connect(dbs.server.dsn(copy), autocommit=True) as conn:
            conn.execute(RENDERER.script(create_statements(declared.schema)))
            conn.execute(f"CREATE TRIGGER events_touch BEFORE UPDATE ON {S}.events FOR EACH ROW "
                         "EXECUTE FUNCTION suppress_redundant_updates_trigger()")
            assert compare(source, inspect_schema(conn, S)) == []
            assert read_declarations(conn, S).schema == declared.schema
    finally:
        dbs.drop(copy)
    with psycopg.connect(fresh, autocommit=True) as conn:  # what is made on one partition only is reported
        conn.execute(f"CREATE INDEX events_2025_only ON {S}.events_2025 (id)")
        conn.execute(f"ALTER TABLE {S}.events_2026 ADD CONSTRAINT events_2026_positive CHECK (id > 0)")
        report = read_declarations(conn, S).report()
    assert [line.split(":")[0] for line in report] == [
        "check events_2026.events_2026_positive", "index events_2025.events_2025_only",
        "trigger events.events_touch"], report
    assert "made on partition events_2025 of events only" in report[1]


@pytest.mark.parametrize(("build", "message"), [
    (lambda: EVENTS.replace(primary_key=m.PrimaryKey(columns=("id",))),
     "table events: primary key events_pkey must include the partition key column(s) ['at']"),
    (lambda: EVENTS.replace(uniques=(m.Unique(name="events_id", columns=("id",)),)),
     "table events: unique events_id must include the partition key column(s) ['at']"),
    (lambda: part("p", "FOR VALUES FROM (1 TO (2)"), "partition p: bound 'FOR VALUES FROM (1 TO (2)' does not parse"),
    (lambda: part("p", "FOR VALUES IN (1 +)"), "partition p: bound 'FOR VALUES IN (1 +)'"),
    (lambda: SCRATCH.replace(partitions=(part("p", "DEFAULT"),)),
     "table scratch: has partitions ['p'] but is not partitioned (declare partition_by)"),
    (lambda: EVENTS.replace(partitions=(part("p", "FOR VALUES IN (1)"),)),
     "table events: partition p: bound 'FOR VALUES IN (1)' is not a RANGE bound"),
    (lambda: BUCKETS.replace(partitions=(part("p", "DEFAULT"),)),
     "table buckets: partition p: a HASH-partitioned table has no DEFAULT partition"),
    (lambda: SCRATCH.replace(partition_by="RANGE (id"), "table scratch: partition_by 'RANGE (id' does not parse"),
    (lambda: EVENTS.replace(unlogged=True), "table events: a partitioned table cannot be unlogged"),
    (lambda: m.Schema(name=S, tables=(CHILD, BASE)), "table child: inherits 'base', which is declared after it"),
    (lambda: m.Schema(name=S, tables=(EVENTS, CHILD.replace(inherits=("events",)))),
     "table child: inherits 'events', a partitioned table"),
])
def test_bad_declarations_get_one_error_naming_the_object(build: object, message: str) -> None:
    with pytest.raises(m.DeclarationError) as caught:
        build()  # type: ignore[operator]
    assert message in str(caught.value) and len(str(caught.value).splitlines()) == 1, str(caught.value)


@pytest.mark.parametrize(("table", "message"), [
    (EVENTS.replace(partition_by="HASH (at, id)", partitions=()),
     "table part.events: partition_by changes from RANGE (at) to HASH (at, id); PostgreSQL cannot change it in "
     "place"),
    (CHILD.replace(inherits=()), "table part.child: inherits changes from base to (none)"),
])
def test_what_cannot_change_in_place_is_refused_naming_the_table(
    tmp_path: Path, table: m.Table, message: str
) -> None:
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema"))
    head = V1_STATE.replace(tables=tuple(table if t.name == table.name else t for t in V1_STATE.tables))
    allow = (*ALLOW, f"drop table {S}.events_2025")
    with pytest.raises(PlanError) as caught:
        workflow.generate(p.Project(schema=head, versions=(V1,), schema_dir=tmp_path / "schema",
                                    allow_destructive=allow), "reshape")
    assert message in str(caught.value), str(caught.value)


def test_an_online_part_cut_off_after_the_index_on_only_the_table_is_finished_by_apply_again(
    tmp_path: Path, orders_empty_dsn: str
) -> None:
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema"))
    proj = p.Project(schema=HEAD, versions=(V1,), schema_dir=tmp_path / "schema", allow_destructive=ALLOW)
    assert workflow.generate(proj, "partitions") is not None
    migrate(orders_empty_dsn, proj.schema_dir, target=2)
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:  # what a first, cut-off try left
        conn.execute(f"CREATE INDEX IF NOT EXISTS events_kind_at ON ONLY {S}.events(kind, at)")
        conn.execute(f"CREATE INDEX CONCURRENTLY events_2025_kind_at_idx ON {S}.events_2025(kind, at)")
        valid = f"SELECT indisvalid FROM pg_index WHERE indexrelid = '{S}.events_kind_at'::regclass"
        assert conn.execute(valid).fetchone() == (False,)
    assert [a.version for a in migrate(orders_empty_dsn, proj.schema_dir)] == [3]
    with psycopg.connect(orders_empty_dsn) as conn:
        assert conn.execute(valid).fetchone() == (True,)


@pytest.mark.parametrize("cut_off", ["pending", "detached"])
def test_a_detach_cut_off_pending_or_before_its_drop_is_finished_by_apply_again(
    tmp_path: Path, orders_empty_dsn: str, dbs: Databases, cut_off: str
) -> None:
    """``DETACH ... CONCURRENTLY`` commits twice. Cut off between the two, the partition stays
    "pending detach" (apply FINALIZEs it); cut off after both but before the DROP, it is a table of
    its own (the file drops it). Either way apply, run again, ends at the head."""
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema"))
    proj = p.Project(schema=HEAD, versions=(V1,), schema_dir=tmp_path / "schema", allow_destructive=ALLOW)
    assert workflow.generate(proj, "partitions") is not None
    migrate(orders_empty_dsn, proj.schema_dir, target=2)
    detach = f"ALTER TABLE {S}.events DETACH PARTITION {S}.events_2024 CONCURRENTLY"
    state = ("SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(%s) "
             "AND inhparent = to_regclass(%s)")
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {S}.events (id, at) VALUES (1, '2024-06-01'), (2, '2025-06-01')")
        if cut_off == "pending":
            # an older snapshot makes the second step wait; a statement timeout cuts it off there
            with psycopg.connect(orders_empty_dsn) as holder:
                holder.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                holder.execute(f"SELECT count(*) FROM {S}.events")
                conn.execute("SET statement_timeout = '300ms'")
                with pytest.raises(psycopg.errors.QueryCanceled):
                    conn.execute(detach.encode())
                conn.execute("RESET statement_timeout")
            assert conn.execute(state, [f"{S}.events_2024", f"{S}.events"]).fetchone() == (True,)
        else:
            conn.execute(detach.encode())
            assert conn.execute(state, [f"{S}.events_2024", f"{S}.events"]).fetchone() is None
    messages: list[str] = []
    assert [a.version for a in migrate(orders_empty_dsn, proj.schema_dir, progress=messages.append)] == [3]
    if cut_off == "pending":
        assert any(m.startswith(f"repaired: finished the detach of {S}.events_2024 from {S}.events") for m in messages)
    with psycopg.connect(orders_empty_dsn) as conn:
        assert conn.execute("SELECT to_regclass(%s)", [f"{S}.events_2024"]).fetchone() == (None,)
        assert conn.execute(f"SELECT count(*) FROM {S}.events").fetchone() == (1,)  # the 2025 row
        assert compare(declared_catalog(HEAD, dbs), inspect_schema(conn, S)) == []
