"""A derived table backfilled in batches, outside the lock its triggers take (kinds/backfill.py).

The shapes that batch exactly, the reasons the others keep the in-transaction backfill, and the
proof of exactness: writers insert, update (status, amount, key), delete and move rows across the
batches' progress while the online version runs; the summary then equals a fresh count.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from orders_schema.declare import model as m
from orders_schema.declare import project as p
from orders_schema.declare.summary import kept_summary
from orders_schema.kinds import backfill
from orders_schema.live.apply import migrate
from orders_schema.live.compare import compare, declared_catalog
from orders_schema.live.inspect import inspect_schema
from orders_schema.migrate import workflow
from orders_schema.migrate.lint import lint_text
from orders_schema.store.statements import split
from orders_schema.tester.harness import Databases

ITEMS = m.Table(
    name="items",
    columns=(
        m.Column(name="id", type=m.BIGINT, nullable=False),
        m.Column(name="status", type=m.varchar(20), nullable=False),
        m.Column(name="amount", type=m.BIGINT, nullable=False),
        m.Column(name="simulated", type=m.BOOLEAN, nullable=False, default="FALSE"),
    ),
    primary_key=m.PrimaryKey(columns=("id",)),
)
V1_STATE = m.Schema(name="shop", tables=(ITEMS,))
V1 = m.Version(number=1, name="shop", create_schema=True, state=V1_STATE,
               phases=(m.Phase(title="PHASE 1", items=(ITEMS,)),))
ITEMS_COUNTED, COUNTS, COUNT = kept_summary("shop", ITEMS, "item_counts", ("simulated", "status"),
                                     function="count_items", sums=(("total", "amount"),),
                                     where="i.status <> 'void'")
POPULATE = COUNTS.populate or ""
TRIGGERS = ITEMS_COUNTED.triggers
HEAD = m.Schema(name="shop", tables=(ITEMS_COUNTED, COUNTS), functions=(COUNT,))
FRESH = ("SELECT i.simulated, i.status, count(*), sum(i.amount) FROM shop.items i WHERE i.status <> 'void' "
         "GROUP BY 1, 2 ORDER BY 1, 2")
SUMMARY = "SELECT simulated, status, n, total FROM shop.item_counts WHERE n <> 0 ORDER BY 1, 2"


def with_populate(populate: str, **table: object) -> m.Schema:
    counts = COUNTS.model_copy(update={"populate": populate, **table})
    return HEAD.model_copy(update={"tables": (HEAD.tables[0], counts)})


def generated(tmp_path: Path, head: m.Schema = HEAD) -> p.Project:
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema"))
    proj = p.Project(schema=head, versions=(V1,), schema_dir=tmp_path / "schema")
    assert workflow.generate(proj, "counts") is not None
    return proj


def text(proj: p.Project, number: int) -> str:
    return next(proj.schema_dir.glob(f"V{number}__*.sql")).read_text()


@pytest.mark.parametrize(("populate", "why"), [
    (POPULATE, None),
    ("INSERT INTO shop.item_counts (simulated, status, n, total) SELECT simulated, status, count(*), sum(amount) "
     "FROM shop.items WHERE status <> 'void' GROUP BY 1, 2", None),
    (POPULATE + " HAVING count(*) > 1", "its SELECT has having"),
    (POPULATE.replace("sum(i.amount)", "max(i.amount)"), "its column total is not count(*)"),
    (POPULATE.replace("GROUP BY i.simulated, i.status", "GROUP BY i.simulated, i.status, i.amount"),
     "it does not GROUP BY exactly its key columns"),
    (POPULATE.replace("i.status <> 'void'", "i.status <> 'void' AND i.id > random()"), "not IMMUTABLE"),
    (POPULATE.replace("i.status <> 'void'", "i.id IN (SELECT 1)"), "its WHERE has a subquery"),
    (POPULATE.replace("shop.items i", "shop.items i JOIN shop.items j ON j.id = i.id"),
     "its SELECT has joins"),
])
def test_the_shapes_that_batch_exactly(populate: str, why: str | None) -> None:
    schema = with_populate(populate)
    found = backfill.shape(schema, V1_STATE, schema.tables[1])
    if why is None:
        assert isinstance(found, backfill.Shape), found
        assert found.keys == ("simulated", "status") and found.aggregates == ("n", "total")
        assert found.source_key == "id" and found.maintained_by == tuple(t.name for t in TRIGGERS)
    else:
        assert isinstance(found, str) and why in found, found


def test_unmaintained_or_constrained_tables_keep_the_transactional_backfill() -> None:
    bare = HEAD.model_copy(update={"tables": (ITEMS, COUNTS), "functions": ()})
    assert "no trigger on items maintains it" in str(backfill.shape(bare, V1_STATE, COUNTS))
    checked = with_populate(POPULATE, checks=(m.Check(name="item_counts_n", expression="n >= 0"),))
    assert "partial sums could break" in str(backfill.shape(checked, V1_STATE, checked.tables[1]))
    nullable = HEAD.model_copy(update={"tables": (ITEMS.model_copy(update={
        "columns": (*ITEMS.columns[:2], ITEMS.columns[2].model_copy(update={"nullable": True}), ITEMS.columns[3]),
        "triggers": TRIGGERS}), COUNTS)})
    assert "sum(NOT NULL column)" in str(backfill.shape(nullable, V1_STATE, COUNTS))


def test_generate_moves_the_backfill_out_of_the_transaction(tmp_path: Path) -> None:
    proj = generated(tmp_path)
    tx, online = text(proj, 2), text(proj, 3)
    assert "INSERT INTO shop.item_counts (simulated" not in tx  # no backfill under the triggers' lock
    assert "CREATE TRIGGER item_counts_backfill_insert" in tx and "CREATE TRIGGER trg_items_count_insert" in tx
    assert online.startswith("-- orders-schema: no-transaction\n")
    assert "FROM shop.item_counts_backfill FOR UPDATE;" in online
    assert f"rows_per_batch integer := {backfill.BATCH_ROWS};" in online and "OFFSET rows_per_batch - 1" in online
    assert "LOCK TABLE" not in online
    hazards = [h for linted in lint_text(tx) for h in linted.hazards]
    assert not [h for h in hazards if h.kind == "backfill" or "held during" in h.detail]
    # the online file drops only the backfill's own progress table: lint says so, not "data-loss"
    online_hazards = [h for linted in lint_text(online) for h in linted.hazards]
    assert not [h for h in online_hazards if h.kind == "data-loss"], online_hazards
    assert [h for h in online_hazards if h.kind == "backfill" and "progress table shop.item_counts_backfill"
            in h.detail and "no data of yours" in h.detail], online_hazards
    # a DO block without the mark that drops a table still loses data
    plain = "DO $$\nBEGIN\n    DROP TABLE IF EXISTS shop.item_counts_backfill;\nEND;\n$$;\n"
    assert [h.kind for linted in lint_text(plain) for h in linted.hazards] == ["data-loss"]


def test_other_shapes_keep_the_backfill_in_the_transaction_and_lint_names_the_stall(tmp_path: Path) -> None:
    proj = generated(tmp_path, with_populate(POPULATE + " HAVING count(*) > 0"))
    tx = text(proj, 2)
    assert "-- in this transaction, not in batches: its SELECT has having" in tx
    assert not list(proj.schema_dir.glob("V3__*"))
    [populate] = [linted for linted in lint_text(tx) if linted.sql.startswith("INSERT INTO shop.item_counts (")]
    stall = [h for h in populate.hazards if h.kind == "lock"]
    assert stall and "writes to shop.items wait for this whole backfill" in stall[0].detail, populate.hazards


def _frontier(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """The key the batches have counted up to (0 before the first batch and once they are done)."""
    if conn.execute("SELECT to_regclass('shop.item_counts_backfill')").fetchone() in (None, (None,)):
        return 0
    try:
        row = conn.execute("SELECT low FROM shop.item_counts_backfill").fetchone()
    except psycopg.errors.UndefinedTable:  # dropped meanwhile: the backfill is done
        if not conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise
        return 0
    return int(row[0]) if row and row[0] is not None else 0


def _writer(dsn: str, stop: threading.Event, seed: int, repeatable_read: bool, log: Callable[[bool], None]) -> None:
    """Random writes until told to stop, most of them on the rows the next batches count (where a
    race would lose or double a row); ``log(mid)`` after each commit (mid: some rows were counted
    and some not)."""
    rng = random.Random(seed)
    fresh = itertools.count(1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            n = next(fresh)
            f = _frontier(conn)
            near = f"(SELECT id FROM shop.items WHERE id > {f} ORDER BY id LIMIT 1 OFFSET {rng.randrange(900)})"
            anywhere = "(SELECT id FROM shop.items ORDER BY random() LIMIT 1)"
            statements = rng.choice([
                [f"INSERT INTO shop.items VALUES ({f + rng.randrange(1, 9000)}, 'new', {n % 50 + 1}) "
                 "ON CONFLICT DO NOTHING"],
                [f"INSERT INTO shop.items VALUES ({(seed * 10 + 1) * 1_000_000 + n}, 'filled', 3)"],
                ["UPDATE shop.items SET status = (ARRAY['new','filled','void'])[1 + (id % 3)::int], "
                 f"amount = amount + 1 WHERE id = {near}"],
                [f"UPDATE shop.items SET simulated = NOT simulated WHERE id = {anywhere}"],
                [f"DELETE FROM shop.items WHERE id = {near}"],
                [f"UPDATE shop.items SET id = {f + rng.randrange(1, 9000)} WHERE id = {near}"],
                [f"UPDATE shop.items SET id = {-(seed * 1_000_000 + n)} WHERE id = {near}"],  # into the counted
                [f"UPDATE shop.items SET id = {(seed * 10 + 2) * 1_000_000 + n} WHERE id = {near}"],  # past the rest
                ["UPDATE shop.items SET status = 'filled' WHERE id IN (SELECT id FROM shop.items WHERE id > "
                 f"{f} ORDER BY id LIMIT 5 OFFSET {rng.randrange(900)})",
                 f"INSERT INTO shop.items SELECT {f} + g * 7, 'new', g FROM generate_series(1, 5) g "
                 "ON CONFLICT DO NOTHING"],
            ])
            try:
                with conn.transaction():
                    if repeatable_read:
                        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    for statement in statements:
                        conn.execute(statement.encode())
                    mid = _frontier(conn) != 0
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected,
                    psycopg.errors.UniqueViolation, psycopg.errors.UndefinedTable):
                continue  # rolled back whole: nothing of it counts
            log(mid)


def test_batched_backfill_is_exact_under_concurrent_writes(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill, "BATCH_ROWS", 400)  # many batches over a small table
    monkeypatch.setattr(backfill, "MAX_ROWS", 400)
    proj = generated(tmp_path)
    migrate(orders_empty_dsn, proj.schema_dir, target=1)
    with psycopg.connect(orders_empty_dsn) as conn:
        conn.execute("INSERT INTO shop.items SELECT g * 10, (ARRAY['new','filled','void'])[1 + g % 3], g % 97 + 1, "
                     "g % 5 = 0 FROM generate_series(1, 12000) g")  # keys 10 apart: writers insert between
    migrate(orders_empty_dsn, proj.schema_dir, target=2)  # the triggers and helpers, no backfill yet
    with psycopg.connect(orders_empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM shop.item_counts").fetchone() == (0,)

    stop = threading.Event()
    writes: list[bool] = []
    lock = threading.Lock()

    def log(mid: bool) -> None:
        with lock:
            writes.append(mid)

    writers = [threading.Thread(target=_writer, args=(orders_empty_dsn, stop, seed, seed == 3, log))
               for seed in (1, 2, 3)]
    for w in writers:
        w.start()
    try:
        while len(writes) < 30:  # writes before the backfill starts, too
            stop.wait(0.01)
        applied = migrate(orders_empty_dsn, proj.schema_dir)
        seen = len(writes)
        while len(writes) < seen + 30:  # and after it ends
            stop.wait(0.01)
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert [a.version for a in applied] == [3]
    assert sum(writes) >= 5, f"{sum(writes)} of {len(writes)} writes committed while the batches ran"
    with psycopg.connect(orders_empty_dsn) as conn:
        assert conn.execute(SUMMARY).fetchall() == conn.execute(FRESH).fetchall()
        assert conn.execute("SELECT to_regclass('shop.item_counts_backfill'), to_regprocedure("
                            "'shop.item_counts_backfill()')").fetchone() == (None, None)
        live = inspect_schema(conn, "shop")
    assert compare(declared_catalog(HEAD, orders_databases), live) == []


def test_the_down_script_removes_the_helpers_of_a_backfill_cut_off(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    """Applied up to the setup (the batches never ran): the down script leaves nothing behind."""
    proj = generated(tmp_path)
    migrate(orders_empty_dsn, proj.schema_dir, target=2)
    down = next((proj.schema_dir / "down").glob("U2__*.sql")).read_text()
    with psycopg.connect(orders_empty_dsn) as conn:
        for statement in split(down):
            conn.execute(statement.encode())
        assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'shop.items'::regclass").fetchone() == (0,)
        assert conn.execute("SELECT to_regclass('shop.item_counts_backfill')").fetchone() == (None,)
        live = inspect_schema(conn, "shop")
    assert compare(declared_catalog(V1_STATE, orders_databases), live) == []
