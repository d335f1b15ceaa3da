"""generate -> apply -> inspect on a real PostgreSQL, for a small project declared in the test.

Each migration test ends as Atlas's do: the live catalogue equals the declarations in
PostgreSQL's stored form ("nothing left to change"), and diffing again yields nothing.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import psycopg
import pytest

from orders_schema.declare import model as m
from orders_schema.declare import project as p
from orders_schema.live.apply import ApplyError, ApplyRefused, DataLossRefused, migrate, undo_last
from orders_schema.live.compare import compare, declared_catalog
from orders_schema.live.inspect import inspect_schema
from orders_schema.migrate import workflow
from orders_schema.migrate.plan import DestructiveChangeError
from orders_schema.store import files
from orders_schema.store.files import version_files
from orders_schema.tester.harness import Databases

ID = m.Column(name="id", type=m.UUID, nullable=False, default="gen_random_uuid()")
STATUS = m.Column(name="status", type=m.varchar(20), nullable=False, default=m.lit("new"))
AMOUNT = m.Column(name="amount", type=m.numeric(20, 8), nullable=False, default="1")
TOUCH = m.Function(name="touch", body="\nBEGIN\n    NEW.status = NEW.status;\n    RETURN NEW;\nEND;\n")
ITEMS = m.Table(
    name="items",
    columns=(ID, STATUS, AMOUNT),
    primary_key=m.PrimaryKey(columns=("id",)),
    checks=(m.Check.one_of("items_status_check", "status", ("new", "done")),),
    indexes=(m.Index(name="idx_items_status", columns=("status",)),),
    triggers=(m.Trigger(name="trg_items_touch", timing="BEFORE", events=("UPDATE",), function="touch"),),
)
SUMMARY = m.View(name="item_summary", query="SELECT i.status, count(*) AS n FROM shop.items i GROUP BY i.status")
TOTALS = m.View(name="item_totals", query="SELECT s.status, s.n FROM shop.item_summary s")
V1_STATE = m.Schema(name="shop", tables=(ITEMS,), functions=(TOUCH,), views=(SUMMARY, TOTALS))
V1 = m.Version(
    number=1, name="shop", create_schema=True, state=V1_STATE,
    phases=(m.Phase(title="PHASE 1", items=(TOUCH, ITEMS, *ITEMS.indexes, *ITEMS.triggers, SUMMARY, TOTALS)),),
)

COUNTS = m.Table(
    name="item_counts",
    columns=(m.Column(name="status", type=m.varchar(20), nullable=False),
             m.Column(name="n", type=m.BIGINT, nullable=False)),
    primary_key=m.PrimaryKey(columns=("status",)),
    populate="INSERT INTO shop.item_counts (status, n) SELECT status, count(*) FROM shop.items GROUP BY status",
)
HEAD = m.Schema(
    name="shop",
    tables=(
        ITEMS.model_copy(update={
            "columns": (ID, STATUS, AMOUNT.model_copy(update={"type": m.numeric(30, 8)}),
                        m.Column(name="note", type=m.TEXT, default=m.lit("it's"))),
            "checks": (*ITEMS.checks, m.Check(name="items_amount_positive", expression="amount > 0")),
            "indexes": (m.Index(name="idx_items_open", columns=("status",), where="status <> 'done'"),),
        }),
        COUNTS,
    ),
    functions=(TOUCH.model_copy(update={"settings": (("search_path", "pg_catalog, pg_temp"),)}),),
    views=(SUMMARY.model_copy(update={"query": "SELECT i.status, count(*) AS n, sum(i.amount) AS total "
                                               "FROM shop.items i GROUP BY i.status"}), TOTALS),
)


def project(tmp_path: Path, head: m.Schema = HEAD, **kw: object) -> p.Project:
    proj = p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema")
    workflow.render(proj)
    return p.Project(schema=head, versions=(V1,), schema_dir=tmp_path / "schema", **kw)  # type: ignore[arg-type]


def live(dsn: str, schema: str = "shop") -> object:
    with psycopg.connect(dsn) as conn:
        return inspect_schema(conn, schema)


def assert_matches(dbs: Databases, dsn: str, schema: m.Schema) -> None:
    differences = compare(declared_catalog(schema, dbs), live(dsn))  # type: ignore[arg-type]
    assert differences == [], "\n".join(map(str, differences))


@pytest.fixture
def generated(tmp_path: Path) -> p.Project:
    proj = project(tmp_path)
    result = workflow.generate(proj, "changes")
    assert result is not None
    return proj


def test_generate_writes_a_transactional_and_an_online_version_and_settles(generated: p.Project) -> None:
    names = sorted(f.path.name for f in version_files(generated.schema_dir))
    assert names == ["V1__shop.sql", "V2__changes.sql", "V3__changes_online.sql"]
    online = (generated.schema_dir / "V3__changes_online.sql").read_text()
    assert online.startswith("-- orders-schema: no-transaction")
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_items_open" in online
    assert "VALIDATE CONSTRAINT items_amount_positive" in online
    assert (generated.schema_dir / "V3__changes_online.sql.conf").read_text() == "executeInTransaction=false\n"
    tx = (generated.schema_dir / "V2__changes.sql").read_text()
    assert "SET lock_timeout = '5s';" in tx and "CHECK (amount > 0) NOT VALID" in tx
    assert tx.index("DROP VIEW IF EXISTS shop.item_totals") < tx.index("DROP VIEW IF EXISTS shop.item_summary")
    assert tx.index("CREATE OR REPLACE VIEW shop.item_summary") < tx.index("CREATE OR REPLACE VIEW shop.item_totals")
    assert workflow.generate(generated, "again") is None
    assert workflow.check(generated) == []


def test_up_down_up_on_a_database_with_rows(
    generated: p.Project, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    migrate(orders_empty_dsn, generated.schema_dir, target=1)
    with psycopg.connect(orders_empty_dsn) as conn:
        conn.execute("INSERT INTO shop.items (status, amount) SELECT 'new', g FROM generate_series(1, 500) g")
        conn.execute("INSERT INTO shop.items (status, amount) SELECT 'done', g FROM generate_series(1, 20) g")
        before = conn.execute("SELECT id, status, amount FROM shop.items ORDER BY id").fetchall()
    applied = migrate(orders_empty_dsn, generated.schema_dir)
    assert [a.version for a in applied] == [2, 3]
    assert_matches(orders_databases, orders_empty_dsn, HEAD)
    with psycopg.connect(orders_empty_dsn) as conn:
        assert conn.execute("SELECT id, status, amount FROM shop.items ORDER BY id").fetchall() == before
        counts = conn.execute("SELECT status, n FROM shop.item_counts ORDER BY 1").fetchall()
        assert counts == [("done", 20), ("new", 500)]
    # The down script drops the column note and the table item_counts: undo names them and
    # refuses, running nothing, until told to accept the loss.
    with pytest.raises(DataLossRefused, match=r"undoing V2, V3 loses data: drop column shop.items.note; "
                       r"drop table shop.item_counts \(down/U2__changes.sql\); nothing was undone"):
        undo_last(orders_empty_dsn, generated.schema_dir)
    assert_matches(orders_databases, orders_empty_dsn, HEAD)
    assert undo_last(orders_empty_dsn, generated.schema_dir, allow_data_loss=True) == [2, 3]
    assert_matches(orders_databases, orders_empty_dsn, V1_STATE)
    assert [a.version for a in migrate(orders_empty_dsn, generated.schema_dir)] == [2, 3]
    assert_matches(orders_databases, orders_empty_dsn, HEAD)


def test_apply_is_idempotent_and_records_history(generated: p.Project, orders_empty_dsn: str) -> None:
    assert len(migrate(orders_empty_dsn, generated.schema_dir)) == 3
    assert migrate(orders_empty_dsn, generated.schema_dir) == []
    with psycopg.connect(orders_empty_dsn) as conn:
        rows = conn.execute("SELECT version, name, transactional FROM orders_schema.history ORDER BY 1").fetchall()
    assert rows == [(1, "shop", True), (2, "changes", True), (3, "changes_online", False)]


def test_concurrent_appliers_apply_each_version_exactly_once(generated: p.Project, orders_empty_dsn: str) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(len(migrate(orders_empty_dsn, generated.schema_dir)))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [0, 0, 0, 3]


def test_apply_refuses_an_edited_released_file(generated: p.Project, orders_empty_dsn: str) -> None:
    migrate(orders_empty_dsn, generated.schema_dir, target=2)
    path = generated.schema_dir / "V2__changes.sql"
    path.write_text(path.read_text().replace("'5s'", "'6s'"))
    with pytest.raises(ApplyRefused, match=r"V2__changes\.sql differs from what was applied"):
        migrate(orders_empty_dsn, generated.schema_dir)
    assert any("released file was edited" in problem for problem in workflow.check(generated))


def test_a_failing_version_leaves_the_database_as_it_was(
    generated: p.Project, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    migrate(orders_empty_dsn, generated.schema_dir, target=1)
    path = generated.schema_dir / "V2__changes.sql"
    path.write_text(path.read_text() + "\nALTER TABLE shop.items ADD COLUMN oops nonexistent_type;\n")
    manifest = files.read_manifest(generated.schema_dir)  # released as is: apply refuses edited files before running
    for entry in manifest["versions"]:
        if entry["file"] == path.name:
            entry["sha256"] = files.sha256(path.read_text())
    (generated.schema_dir / files.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ApplyError, match=r"V2__changes\.sql"):
        migrate(orders_empty_dsn, generated.schema_dir)
    assert_matches(orders_databases, orders_empty_dsn, V1_STATE)
    with psycopg.connect(orders_empty_dsn) as conn:
        assert conn.execute("SELECT max(version) FROM orders_schema.history").fetchone() == (1,)


def test_destructive_changes_are_refused_unless_declared(tmp_path: Path) -> None:
    narrowed = HEAD.model_copy(update={"tables": (
        HEAD.tables[0].model_copy(
            update={"columns": (ID, STATUS, AMOUNT.model_copy(update={"type": m.numeric(10, 2)}))}
        ),
        HEAD.tables[1],
    )})
    with pytest.raises(DestructiveChangeError, match=r"narrow column shop\.items\.amount"):
        workflow.generate(project(tmp_path, narrowed), "narrow")
    (tmp_path / "b").mkdir()
    allowed = project(tmp_path / "b", V1_STATE.model_copy(update={"views": (), "tables": (
        ITEMS.model_copy(update={"columns": (ID, STATUS)}),)}), allow_destructive=("drop column shop.items.amount",))
    result = workflow.generate(allowed, "drop_amount")
    assert result is not None
    assert "DROP COLUMN IF EXISTS amount" in result.files["V2__drop_amount.sql"]


def test_nothing_to_generate_writes_nothing(tmp_path: Path) -> None:
    proj = project(tmp_path, V1_STATE)
    before = sorted(str(x) for x in proj.schema_dir.rglob("*"))
    assert workflow.generate(proj, "nothing") is None
    assert sorted(str(x) for x in proj.schema_dir.rglob("*")) == before


def test_check_fails_while_the_declarations_have_changes_no_version_contains(tmp_path: Path) -> None:
    proj = project(tmp_path)
    problems = workflow.check(proj)
    assert len(problems) == 1
    assert "change(s) that no version contains" in problems[0] and "AddTable item_counts" in problems[0]
    workflow.generate(proj, "changes")
    assert workflow.check(proj) == []


def test_a_primary_key_change_settles_keeps_rows_and_reverses(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    """A key widened by a new column: the column is added in the transaction; the new key's index
    is built CONCURRENTLY and swapped in by one ALTER TABLE, so the table always has a key and
    writes never wait for the build. Applying twice is harmless; the down script restores it."""
    bucket = m.Column(name="bucket", type=m.SMALLINT, nullable=False, default="0")
    keyed = ITEMS.model_copy(update={
        "columns": (*ITEMS.columns, bucket),
        "primary_key": m.PrimaryKey(columns=("id", "bucket")),
    })
    head = V1_STATE.model_copy(update={"tables": (keyed,)})
    proj = project(tmp_path, head=head)
    assert workflow.generate(proj, "wider_key") is not None
    tx = (proj.schema_dir / "V2__wider_key.sql").read_text()
    online = (proj.schema_dir / "V3__wider_key_online.sql").read_text()
    assert "ADD COLUMN IF NOT EXISTS bucket" in tx and "PRIMARY KEY" not in tx
    build = online.index("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS items_pkey_new ON shop.items(id, bucket)")
    swap = online.index("ALTER TABLE shop.items\n    DROP CONSTRAINT IF EXISTS items_pkey,\n"
                        "    ADD CONSTRAINT items_pkey PRIMARY KEY USING INDEX items_pkey_new;")
    assert build < swap, online
    assert workflow.generate(proj, "again") is None

    migrate(orders_empty_dsn, proj.schema_dir, target=1)
    with psycopg.connect(orders_empty_dsn) as conn:
        conn.execute("INSERT INTO shop.items (status, amount) SELECT 'new', g FROM generate_series(1, 50) g")
        before = conn.execute("SELECT id, status, amount FROM shop.items ORDER BY id").fetchall()
    assert [a.version for a in migrate(orders_empty_dsn, proj.schema_dir)] == [2, 3]
    assert_matches(orders_databases, orders_empty_dsn, head)
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        for text in (tx, online):  # a second time: re-runnable
            for statement in text.split(";\n"):
                if statement.strip() and not statement.strip().startswith("--"):
                    conn.execute(statement.encode())
        assert conn.execute("SELECT id, status, amount FROM shop.items ORDER BY id").fetchall() == before
        (row_id,) = before[0][:1]
        conn.execute("INSERT INTO shop.items (id, status, amount, bucket) VALUES (%s, 'new', 1, 1)", (row_id,))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO shop.items (id, status, amount, bucket) VALUES (%s, 'new', 1, 1)", (row_id,))
        conn.execute("DELETE FROM shop.items WHERE bucket = 1")
    assert_matches(orders_databases, orders_empty_dsn, head)
    assert undo_last(orders_empty_dsn, proj.schema_dir, allow_data_loss=True) == [2, 3]
    assert_matches(orders_databases, orders_empty_dsn, V1_STATE)


def test_the_down_script_of_a_declared_rename_renames_back(tmp_path: Path) -> None:
    """The down script is built from the changes' reverse, not from a second diff: it renames the
    column back instead of dropping it and adding an empty one (which lost its data)."""
    renamed = ITEMS.replace(columns=(ID, STATUS.replace(name="state", renamed_from="status"), AMOUNT),
                            checks=(m.Check.one_of("items_status_check", "state", ("new", "done")),),
                            indexes=(m.Index(name="idx_items_status", columns=("state",)),))
    head = V1_STATE.replace(tables=(renamed,), views=())
    result = workflow.generate(project(tmp_path, head, allow_destructive=()), "rename_status")
    assert result is not None
    down = result.files["down/U2__rename_status.sql"]
    assert "ALTER TABLE shop.items RENAME COLUMN state TO status;" in down, down
    assert "DROP COLUMN" not in down and "ADD COLUMN" not in down, down
