"""Benchmarks: ``python -m orders_schema.walltrack.bench [--rows N] [--only PART ...]`` (``nox -s bench``).

Every figure is printed next to its baseline from the same run, as a ratio, because absolute
times vary between machines. Results are also written to ``bench-results/bench.json``.

Parts:

``isolation``  per-test setup: rolled-back transaction vs pytest-postgresql's template clone
``scale``      declare, render and diff synthetic schemas of 100 / 1 000 / 5 000 tables (no database)
``migrate``    empty -> head; V9 -> head on ``--rows`` orders (time, longest lock on orders)
``queries``    every repository statement, p50/p99 and the index used, V9 vs head, at ``--rows``
               and ``--rows / 10`` (flatness)
``writes``     INSERT and status-UPDATE throughput: bare table vs V9 vs head, and head with one choice
               undone (v4 ids, no foreign key, no summary triggers: what each costs); set-based, one
               row per transaction, N rows in one transaction; ``--rounds`` rounds, medians;
               indexes; HOT share
``pgbench``    the issue's patterns through ``pgbench`` (the outside yardstick), V9 and head on one server:
               single-row inserts (half entry with a signal, half exit with a position) with 1 and 8
               clients, 20 inserts in one transaction, status updates (pending -> submitted ->
               confirming); ``--rounds`` rounds of ``--pgbench-seconds`` each, schemas in turn, medians;
               count_by_status on the loaded data; head twice: as the superuser (row security
               bypassed) and as ``head-app``, a login role in ``walltrack_app`` (its grants and row
               security apply, as in production); ``--pgbench-ablations [VARIANT ...]``: head with one
               integrity choice undone (without the FK, without the CHECKs it added beyond V9's,
               without its INSERT trigger, without both AFTER INSERT triggers, its one-column CHECKs
               as domains, V9's random ids, its trigger functions SECURITY INVOKER) and the floor:
               without the FK, those CHECKs and its INSERT trigger

``roundtrip``  (only when named) every everyday change (:mod:`orders_schema.walltrack.everyday`) on a
               database holding ``--rows`` orders: generate, check, apply, verify, undo, verify,
               the down script again, apply again, verify; the time of each step
               (``--roundtrip-changes NAME ...`` picks some)

``isolation`` and ``scale`` need nothing of WallTrack: they live in :mod:`orders_schema.benchmarks`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from orders_schema.benchmarks import Results, bench_isolation, bench_scale, say, timer
from orders_schema.benchmarks import percentile as _pct
from orders_schema.declare import model as m
from orders_schema.declare.project import Project, synthetic_parameters
from orders_schema.declare.quoting import ident
from orders_schema.live.apply import migrate
from orders_schema.migrate.lint import lint_text
from orders_schema.store.files import version_files
from orders_schema.tester.server import Server, choose, create_database, throwaway_server
from orders_schema.walltrack.head import APP, COUNT_TRIGGERS, DEFINERS

PARTS = ("isolation", "scale", "migrate", "queries", "writes", "pgbench", "roundtrip")
DEFAULT_PARTS = PARTS[:-1]
"""The parts run unless ``--only`` names others (the round trip of every everyday change is its own run)."""


# ---------------------------------------------------------------------------------------------
# databases with data
# ---------------------------------------------------------------------------------------------


def _load(dsn: str, project: Project, rows: int) -> float:
    started = time.perf_counter()
    params = synthetic_parameters(rows)
    with psycopg.connect(dsn) as conn:
        for i, statement in enumerate(project.synthetic_data, 1):
            conn.execute(statement.encode() if "%(" not in statement else statement, params)
            say(f"    loading {rows:,} orders: step {i}/{len(project.synthetic_data)} "
                f"({time.perf_counter() - started:.1f} s)")
        conn.commit()
    return time.perf_counter() - started


def _last_story_version(project: Project) -> int:
    return max(v.number for v in project.versions)


@contextmanager
def _databases(srv: Server, project: Project, rows: int) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(V9 database, head database upgraded from a copy of it, upgrade figures)."""
    story = _last_story_version(project)
    v9, head = f"bench_v9_{rows}", f"bench_head_{rows}"
    create_database(srv.dsn(), v9)
    migrate(srv.dsn(v9), project.schema_dir, target=story)
    load_s = _load(srv.dsn(v9), project, rows)
    with psycopg.connect(srv.dsn(v9), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    create_database(srv.dsn(), head, template=v9)
    figures = upgrade_figures(srv.dsn(head), project, story)
    with psycopg.connect(srv.dsn(head), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    figures["load_s"] = round(load_s, 2)
    yield srv.dsn(v9), srv.dsn(head), figures


def upgrade_figures(dsn: str, project: Project, after: int) -> dict[str, Any]:
    """Apply the versions after ``after`` statement by statement, timing locks on the tables.

    In a transactional file a lock is held from the statement that takes it to COMMIT; the
    longest blocking (ACCESS EXCLUSIVE or SHARE ROW EXCLUSIVE) hold is what clients notice.
    """
    files = [f for f in version_files(project.schema_dir) if f.number > after]
    started = time.perf_counter()
    longest_block = 0.0
    longest_online = 0.0
    per_file = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for f in files:
            t_file = time.perf_counter()
            statements = lint_text(f.text)
            if f.transactional:
                first_block = None
                with conn.transaction():
                    for st in statements:
                        blocks = any(h.kind == "lock" and ("ACCESS EXCLUSIVE" in h.detail or "SHARE ROW" in h.detail)
                                     and "the view only" not in h.detail for h in st.hazards)
                        if blocks and first_block is None:
                            first_block = time.perf_counter()
                        conn.execute(st.sql.encode())
                if first_block is not None:
                    longest_block = max(longest_block, time.perf_counter() - first_block)
            else:
                for st in statements:
                    t = time.perf_counter()
                    conn.execute(st.sql.encode())
                    longest_online = max(longest_online, time.perf_counter() - t)
            per_file[f.path.name] = round(time.perf_counter() - t_file, 3)
    return {
        "upgrade_s": round(time.perf_counter() - started, 3),
        "longest_blocking_lock_s": round(longest_block, 3),
        "longest_online_statement_s": round(longest_online, 3),
        "files_s": per_file,
    }


def bench_migrate(srv: Server, project: Project, results: Results, figures: dict[str, Any], rows: int) -> None:
    say("== migrate")
    create_database(srv.dsn(), "bench_empty")
    t = time.perf_counter()
    applied = migrate(srv.dsn("bench_empty"), project.schema_dir)
    empty_s = time.perf_counter() - t
    say(f"  empty -> head: {len(applied)} versions in {empty_s * 1000:.0f} ms")
    say(f"  V9 -> head on {rows:,} orders: {figures['upgrade_s']:.2f} s "
        f"(per file: {figures['files_s']});\n    longest blocking lock on orders "
        f"{figures['longest_blocking_lock_s']:.3f} s; "
        f"longest online statement (writes continue) {figures['longest_online_statement_s']:.2f} s")
    results.put("migrate", "empty_to_head_ms", round(empty_s * 1000, 1))
    results.put("migrate", f"v9_to_head_{rows}", figures)


# ---------------------------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------------------------

STORY_COUNT_BY_STATUS = m.Query(
    name="count_by_status",
    sql="SELECT status, sum(count)::bigint FROM walltrack.order_stats "
        "WHERE (%(is_simulated)s::boolean IS NULL OR is_simulated = %(is_simulated)s) GROUP BY status",
    example={"is_simulated": None},
)
"""The story's count_by_status (through the order_stats view): the V9 baseline."""


def _samples(conn: psycopg.Connection) -> dict[str, list[Any]]:
    def col(query: str) -> list[Any]:
        return [r[0] for r in conn.execute(query.encode()).fetchall()]

    return {
        "id": col("SELECT id FROM walltrack.orders TABLESAMPLE SYSTEM (1) LIMIT 200"),
        "signal_id": col("SELECT signal_id FROM walltrack.orders WHERE signal_id IS NOT NULL "
                         "ORDER BY created_at DESC LIMIT 200"),
        "position_id": col("SELECT position_id FROM walltrack.orders WHERE position_id IS NOT NULL "
                           "ORDER BY created_at DESC LIMIT 200"),
    }


def _plan_indexes(conn: psycopg.Connection, query: m.Query, params: dict[str, Any]) -> list[str]:
    with conn.transaction(force_rollback=True):
        row = conn.execute(("EXPLAIN (FORMAT JSON) " + query.sql).encode(), params, prepare=False).fetchone()
    assert row is not None
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            found.append(node["Index Name"])
        elif node.get("Node Type") == "Seq Scan":
            found.append(f"seq scan {node.get('Relation Name')}")
        for child in node.get("Plans", []):
            walk(child)

    walk(row[0][0]["Plan"])
    return sorted(set(found))


def time_queries(dsn: str, queries: list[m.Query], repeat: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with psycopg.connect(dsn) as conn:
        samples = _samples(conn)
        conn.rollback()
        for query in queries:
            mutating = query.sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
            times = []
            params = query.params
            for i in range(repeat):
                for key, values in samples.items():
                    if key in params and params[key] is not None and values:
                        params = {**params, key: values[i % len(values)]}
                if "id" in params and mutating:
                    params = {**params, "id": str(uuid.uuid4())}
                started = time.perf_counter()
                with conn.transaction(force_rollback=True):
                    conn.execute(query.sql.encode(), params, prepare=False).fetchall() if not mutating else \
                        conn.execute(query.sql.encode(), params, prepare=False)
                times.append((time.perf_counter() - started) * 1000)
            out[query.name] = {
                "p50_ms": round(_pct(times, 0.5), 3),
                "p99_ms": round(_pct(times, 0.99), 3),
                "plan": _plan_indexes(conn, query, params),
            }
    return out


def bench_queries(v9: str, head: str, project: Project, rows: int, repeat: int) -> dict[str, Any]:
    head_queries = list(project.queries)
    v9_queries = [STORY_COUNT_BY_STATUS if q.name == "count_by_status" else q for q in head_queries]
    return {"v9": time_queries(v9, v9_queries, repeat), "head": time_queries(head, head_queries, repeat)}


def print_queries(results: Results, by_rows: dict[int, dict[str, Any]]) -> None:
    big = max(by_rows)
    small = min(by_rows)
    say(f"== queries at {big:,} orders: p50 / p99 ms, plan (V9 baseline vs head)")
    say(f"  {'query':22} {'V9 p50':>8} {'V9 p99':>8} {'head p50':>9} {'head p99':>9} {'flat x10':>9}  head plan")
    data = by_rows[big]
    for name, h in data["head"].items():
        b = data["v9"].get(name, {})
        growth = ""
        if small != big and name in by_rows[small]["head"]:
            s = by_rows[small]["head"][name]["p50_ms"]
            growth = f"x{h['p50_ms'] / s:.1f}" if s else ""
        say(f"  {name:22} {b.get('p50_ms', 0):8.3f} {b.get('p99_ms', 0):8.3f} {h['p50_ms']:9.3f} {h['p99_ms']:9.3f} "
            f"{growth:>9}  {', '.join(h['plan']) or '-'}")
    worst = max(v["p99_ms"] for v in data["head"].values())
    say(f"  slowest head p99: {worst:.3f} ms (goal: every query <= 5 ms)")
    results.put("queries", "by_rows", {str(k): v for k, v in by_rows.items()})


# ---------------------------------------------------------------------------------------------
# writes
# ---------------------------------------------------------------------------------------------

# Each schema's own defaults fill what is left out (the id in particular: V9 draws a random
# UUIDv4, head a time-ordered UUIDv7), exactly as for an application that leaves them to the table.
SINGLE_INSERT = b"""INSERT INTO walltrack.orders (order_type, side, signal_id, token_address, amount_sol,
    expected_price) VALUES ('entry', 'buy', 'sig-1', 'Tok0000000000000000000000000000000000000001', 1.5, %s)"""
STATUS_UPDATE = b"UPDATE walltrack.orders SET status = 'submitted' WHERE id = %s"

BARE = """CREATE TABLE walltrack.orders (
    id UUID DEFAULT gen_random_uuid(), order_type VARCHAR(10), side VARCHAR(10), signal_id VARCHAR(100),
    position_id UUID, token_address VARCHAR(44), token_symbol VARCHAR(20), amount_sol DECIMAL(20, 8),
    amount_tokens DECIMAL(30, 8), expected_price DECIMAL(30, 12), actual_price DECIMAL(30, 12),
    max_slippage_bps INTEGER DEFAULT 100, status VARCHAR(20) DEFAULT 'pending', tx_signature VARCHAR(100),
    filled_at TIMESTAMPTZ, attempt_count INTEGER DEFAULT 0, max_attempts INTEGER DEFAULT 3, last_error TEXT,
    next_retry_at TIMESTAMPTZ, is_simulated BOOLEAN DEFAULT FALSE, created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW())"""

# head minus one choice at a time: what each costs or gains. Measurements, not schemas to ship.
WITHOUT = {
    "head-v4": ("time-ordered ids (random v4 ids instead)",
                "ALTER TABLE walltrack.orders ALTER COLUMN id SET DEFAULT gen_random_uuid()"),
    "head-fk": ("the position FK", "ALTER TABLE walltrack.orders DROP CONSTRAINT orders_position_id_fkey"),
    # head's counting triggers on INSERT and UPDATE, by their declared names
    "head-sum": ("the summary triggers", "; ".join(
        f"DROP TRIGGER {t.name} ON walltrack.orders" for t in COUNT_TRIGGERS
        if {"INSERT", "UPDATE"} & set(t.events))),
}
WITHOUT["head-both"] = ("the FK and the summary triggers", f"{WITHOUT['head-fk'][1]}; {WITHOUT['head-sum'][1]}")
WRITE_SCHEMAS = ("bare", "pkey", "v9", "head", "head-v4", "head-fk", "head-sum", "head-both")


def _orders_insert_sql(project: Project) -> str:
    for statement in project.synthetic_data:
        if statement.lstrip().upper().startswith("INSERT INTO WALLTRACK.ORDERS"):
            return statement
    raise ValueError("the synthetic data has no INSERT INTO walltrack.orders")


def _index_count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'walltrack.orders'::regclass").fetchone()
    return int(row[0]) if row else 0


def _hot(conn: psycopg.Connection) -> tuple[int, int]:
    with contextlib.suppress(psycopg.Error):
        conn.execute("SELECT pg_stat_force_next_flush()")
    row = conn.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                       "WHERE relid = 'walltrack.orders'::regclass").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _write_database(srv: Server, project: Project, label: str, rows: int) -> str:
    """A database holding ``label``'s schema, its parent rows, and ``rows`` synthetic orders in an
    unlogged staging table (generated once, with the schema's own defaults), so the timed INSERT
    measures the schema (indexes, constraints, triggers) and not the row generator."""
    db = f"bench_writes_{label.replace('-', '_')}"
    create_database(srv.dsn(), db)
    dsn = srv.dsn(db)
    params = synthetic_parameters(rows)
    if label in ("bare", "pkey"):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA walltrack")
            conn.execute(BARE.encode())
            if label == "pkey":
                conn.execute("ALTER TABLE walltrack.orders ADD PRIMARY KEY (id)")
    else:
        migrate(dsn, project.schema_dir, target=_last_story_version(project) if label == "v9" else None)
        with psycopg.connect(dsn) as conn:  # parents for the synthetic orders
            for statement in project.synthetic_data:
                if not statement.lstrip().upper().startswith(("INSERT INTO WALLTRACK.ORDERS", "ANALYZE")):
                    conn.execute(statement, params)
            conn.execute("INSERT INTO walltrack.signals (id) VALUES ('sig-1') ON CONFLICT DO NOTHING")
            for statement in WITHOUT.get(label, ("", ""))[1].split("; "):
                if statement:
                    conn.execute(statement.encode())
    insert = _orders_insert_sql(project).replace(
        "INSERT INTO walltrack.orders", "INSERT INTO walltrack.orders_staging", 1
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE UNLOGGED TABLE walltrack.orders_staging (LIKE walltrack.orders INCLUDING DEFAULTS)")
        conn.execute(insert, params)  # the same run token: the orders reference those parents
        conn.execute("VACUUM ANALYZE walltrack.orders_staging")
    return dsn


def _set_insert(dsn: str, rows: int) -> float:
    """Rows per second of one ``INSERT ... SELECT`` of the staged orders into an empty table,
    starting right after a checkpoint."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE walltrack.orders")
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        conn.execute("INSERT INTO walltrack.orders SELECT * FROM walltrack.orders_staging")
        return rows / (time.perf_counter() - started)


def _row_by_row(dsn: str, singles: int) -> dict[str, float | None]:
    """Single-row statements on the loaded table: inserts and status updates one transaction each
    (one round trip and one commit per row, as ``OrderRepository`` writes), and the same inserts
    pipelined in one transaction (psycopg's ``executemany``: a single Sync, so one transaction)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE walltrack.orders")
        conn.execute("CHECKPOINT")
        with conn.cursor() as cur:
            started = time.perf_counter()
            for _ in range(singles):
                cur.execute(SINGLE_INSERT, (0.0001,), prepare=True)
            per_txn = singles / (time.perf_counter() - started)
            started = time.perf_counter()
            cur.executemany(SINGLE_INSERT, [(0.0001,)] * singles)
            one_txn = singles / (time.perf_counter() - started)
        update: float | None = None
        hot: float | None = None
        if _index_count(conn):
            ids = [r[0] for r in conn.execute("SELECT id FROM walltrack.orders WHERE status = 'pending' LIMIT %s",
                                              [singles]).fetchall()]
            upd0, hot0 = _hot(conn)
            with conn.cursor() as cur:
                started = time.perf_counter()
                for order_id in ids:
                    cur.execute(STATUS_UPDATE, (order_id,), prepare=True)
                update = len(ids) / (time.perf_counter() - started)
            upd1, hot1 = _hot(conn)
            hot = (hot1 - hot0) / (upd1 - upd0) if upd1 > upd0 else 0.0
    return {"single_insert": per_txn, "batch_insert": one_txn, "status_update": update, "hot_share": hot}


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def write_figures(srv: Server, project: Project, rows: int, singles: int, rounds: int,
                  labels: tuple[str, ...] = WRITE_SCHEMAS) -> dict[str, dict[str, Any]]:
    """Every schema is loaded first; then each measurement runs ``rounds`` times, the schemas
    taking turns within a round, and the median is kept: drift on the machine (other tenants,
    checkpoints, caches) falls on all of them alike instead of on whichever ran last."""
    dsns = {label: _write_database(srv, project, label, rows) for label in labels}
    sets: dict[str, list[float]] = {label: [] for label in labels}
    per_row: dict[str, list[dict[str, float | None]]] = {label: [] for label in labels}
    for round_no in range(rounds):
        for label, dsn in dsns.items():
            sets[label].append(_set_insert(dsn, rows))
        say(f"   round {round_no + 1}/{rounds} set-based: "
            + ", ".join(f"{label} {sets[label][-1]:,.0f}" for label in labels))
    for _ in range(rounds):
        for label, dsn in dsns.items():
            per_row[label].append(_row_by_row(dsn, singles))
    out: dict[str, dict[str, Any]] = {}
    for label, dsn in dsns.items():
        with psycopg.connect(dsn) as conn:
            indexes = _index_count(conn)
        figures = {key: _median([r[key] for r in per_row[label]]) for key in per_row[label][0]}
        out[label] = {
            "indexes": indexes,
            "set_insert_rows_s": round(statistics.median(sets[label])),
            "set_insert_rounds": [round(v) for v in sets[label]],
            "single_insert_rows_s": round(figures["single_insert"] or 0),
            "batch_insert_rows_s": round(figures["batch_insert"] or 0),
            "status_update_rows_s": round(figures["status_update"]) if figures["status_update"] else None,
            "hot_share": round(figures["hot_share"], 3) if figures["hot_share"] is not None else None,
        }
    with psycopg.connect(srv.dsn(), autocommit=True) as admin:
        for dsn in dsns.values():
            name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.SQL(ident(str(name)))))
    return out


CONCURRENT_SCHEMAS = (("v9", "V9 (story)"), ("head-v12", "head at V12: one counter row per key"), ("head", "head"))


def _concurrent_rate(dsn: str, clients: int, per_client: int) -> float:
    """Single-row inserts per second from ``clients`` connections at once, one transaction each."""
    barrier = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                barrier.wait()
                for _ in range(per_client):
                    conn.execute(SINGLE_INSERT, (0.0001,), prepare=True)
        except BaseException as exc:  # reported below: a failed writer must not pass as a fast one
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return clients * per_client / (time.perf_counter() - started)


def concurrent_figures(pg: str | None, project: Project, clients: int, per_client: int,
                       rounds: int) -> dict[str, dict[str, float]]:
    """1 and ``clients`` writers of new orders (all the same summary key), each row its own
    transaction, on a server of its own with ``fsync`` on: a commit then waits for the disk, and
    a lock held until commit serializes whoever waits for it (on the bench's fsync-off server,
    commits are too cheap for that to show)."""
    versions = {"v9": _last_story_version(project), "head-v12": 12, "head": None}
    rates: dict[str, dict[int, list[float]]] = {label: {1: [], clients: []} for label, _ in CONCURRENT_SCHEMAS}
    with throwaway_server(pg, settings=("fsync=on", "synchronous_commit=on", "autovacuum=off")) as srv:
        dsns: dict[str, str] = {}
        for label, _ in CONCURRENT_SCHEMAS:
            db = f"bench_concurrent_{label.replace('-', '_')}"
            create_database(srv.dsn(), db)
            dsns[label] = srv.dsn(db)
            migrate(dsns[label], project.schema_dir, target=versions[label])
            with psycopg.connect(dsns[label]) as conn:
                conn.execute("INSERT INTO walltrack.signals (id) VALUES ('sig-1') ON CONFLICT DO NOTHING")
        with psycopg.connect(srv.dsn()) as conn:
            row = conn.execute("SHOW fsync").fetchone()
        if not row or row[0] != "on":
            raise RuntimeError("the concurrent-writers server runs without fsync; its figures would mean nothing")
        for _ in range(rounds):
            for label, dsn in dsns.items():
                for n in (1, clients):
                    rates[label][n].append(_concurrent_rate(dsn, n, per_client))
    return {label: {"one_writer_rows_s": round(statistics.median(r[1])),
                    f"{clients}_writers_rows_s": round(statistics.median(r[clients]))}
            for label, r in rates.items()}


def bench_writes(srv: Server, project: Project, results: Results, rows: int, singles: int, rounds: int,
                 pg: str | None = None) -> None:
    say(f"== writes: {rows:,} orders set-based (INSERT ... SELECT from staging), then {singles:,} single-row "
        f"inserts and status updates; {rounds} rounds, schemas in turn, medians")
    out = write_figures(srv, project, rows, singles, rounds)
    say(f"  {'schema':9} {'indexes':>7} {'set INSERT/s':>13} {'1 row/txn INSERT/s':>19} "
        f"{'N rows/txn INSERT/s':>20} {'1 row/txn UPDATE/s':>19} {'HOT':>5}")
    for label, f in out.items():
        update = f"{f['status_update_rows_s']:19,}" if f["status_update_rows_s"] else f"{'n/a (no key)':>19}"
        hot = f"{f['hot_share']:5.0%}" if f["hot_share"] is not None else f"{'':>5}"
        say(f"  {label:9} {f['indexes']:7d} {f['set_insert_rows_s']:13,} {f['single_insert_rows_s']:19,} "
            f"{f['batch_insert_rows_s']:20,} {update} {hot}")
    v9, h = out["v9"], out["head"]

    def ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> str:
        return f"x{a[key] / b[key]:.2f}" if a.get(key) and b.get(key) else "n/a"

    say(f"  head / V9: set INSERT {ratio(h, v9, 'set_insert_rows_s')} (goal >= 2), "
        f"1 row/txn INSERT {ratio(h, v9, 'single_insert_rows_s')}, "
        f"N rows/txn INSERT {ratio(h, v9, 'batch_insert_rows_s')}, "
        f"status UPDATE {ratio(h, v9, 'status_update_rows_s')}")
    for label, (removed, _) in WITHOUT.items():
        f = out[label]
        say(f"  {label:9} head without {removed}: set INSERT {ratio(f, h, 'set_insert_rows_s')} of head, "
            f"{ratio(f, v9, 'set_insert_rows_s')} of V9; 1 row/txn INSERT {ratio(f, h, 'single_insert_rows_s')} "
            f"of head, {ratio(f, v9, 'single_insert_rows_s')} of V9")
    results.put("writes", f"{rows}", out)

    clients, per_client = 8, max(50, singles // 20)
    say(f"== concurrent writers: 1 and {clients} connections inserting new orders ({per_client:,} each, one "
        f"transaction per row), on a second server with fsync on; {rounds} rounds, medians")
    conc = concurrent_figures(pg, project, clients, per_client, rounds)
    for label, title in CONCURRENT_SCHEMAS:
        f = conc[label]
        say(f"  {title:40} 1 writer {f['one_writer_rows_s']:7,}/s   {clients} writers "
            f"{f[f'{clients}_writers_rows_s']:7,}/s (x{f[f'{clients}_writers_rows_s'] / f['one_writer_rows_s']:.2f})")
    many = f"{clients}_writers_rows_s"
    say(f"  head / V9 with {clients} writers: x{conc['head'][many] / conc['v9'][many]:.2f} "
        f"(head at V12: x{conc['head-v12'][many] / conc['v9'][many]:.2f})")
    results.put("writes", "concurrent", {"clients": clients, "per_client": per_client, **conc})


# ---------------------------------------------------------------------------------------------
# pgbench
# ---------------------------------------------------------------------------------------------

_TOKEN = "'Tok0000000000000000000000000000000000000001'"
_ENTRY = ("INSERT INTO walltrack.orders (order_type, side, signal_id, token_address, token_symbol, amount_sol, "
          f"expected_price) VALUES ('entry', 'buy', 'sig-{{run}}-' || :s{{i}}, {_TOKEN}, 'T1', 1.5, 0.0001);")
_EXIT = ("INSERT INTO walltrack.orders (order_type, side, position_id, token_address, token_symbol, amount_sol, "
         f"expected_price) VALUES ('exit', 'sell', md5('{{run}}-pos-' || :p{{i}})::uuid, {_TOKEN}, 'T1', 1.5, "
         "0.0001);")
PGBENCH_RUN = "pgbench"
"""The synthetic load's run token in the pgbench databases, so that the scripts can name its keys."""
POOL = 5_000
"""Open orders (the same rows in both databases) that the status-update script cycles through."""


def add_pool(conn: psycopg.Connection[Any], size: int, reader: str | None = None) -> None:
    """``size`` open orders, and ``public.bench_pool (n, id)`` numbering them 1 to ``size``: the rows
    the status-update pattern cycles through (``reader``, a role, may read the pool). Then VACUUM
    ANALYZE, as a live database is."""
    conn.execute("CREATE TABLE public.bench_pool (n int PRIMARY KEY, id uuid NOT NULL)")
    conn.execute(f"""WITH ins AS (
        INSERT INTO walltrack.orders (order_type, side, signal_id, token_address, token_symbol,
                                      amount_sol, expected_price)
        SELECT 'entry', 'buy', 'pool-' || g, {_TOKEN}, 'T1', 1.5, 0.0001
        FROM generate_series(1, {int(size)}) AS g RETURNING id, signal_id)
        INSERT INTO public.bench_pool SELECT substr(signal_id, 6)::int, id FROM ins""".encode())
    if reader is not None:
        conn.execute(sql.SQL("GRANT SELECT ON public.bench_pool TO {}").format(sql.SQL(ident(reader))))
    conn.execute("VACUUM ANALYZE")


def pgbench_scripts(rows: int, run: str = PGBENCH_RUN) -> dict[str, str]:
    """pgbench scripts per file name. Signals and positions are those of the synthetic load ``run``
    (``sig-<run>-N`` for N up to 60 % of ``rows``, ``md5('<run>-pos-N')`` up to 40 %), so every exit
    order passes the foreign key."""
    signals, positions = max(1, rows * 6 // 10), max(1, rows * 4 // 10)
    draw = f"\\set s{{i}} random(1, {signals})\n\\set p{{i}} random(1, {positions})\n"
    batch = "".join(draw.format(i=i) for i in range(10)) + "BEGIN;\n" + "".join(
        _ENTRY.format(i=i, run=run) + "\n" + _EXIT.format(i=i, run=run) + "\n" for i in range(10)) + "COMMIT;\n"
    return {
        "entry.sql": draw.format(i=0) + _ENTRY.format(i=0, run=run) + "\n",
        "exit.sql": draw.format(i=0) + _EXIT.format(i=0, run=run) + "\n",
        "batch20.sql": batch,
        # pending -> submitted -> confirming (then back to pending, so the pool stays open)
        "update.sql": f"\\set n random(1, {POOL})\n"
                      "UPDATE walltrack.orders SET status = CASE status WHEN 'pending' THEN 'submitted' "
                      "WHEN 'submitted' THEN 'confirming' ELSE 'pending' END "
                      "WHERE id = (SELECT id FROM public.bench_pool WHERE n = :n);\n",
    }


PGBENCH_PATTERNS = (
    ("insert", ("entry.sql@1", "exit.sql@1"), 1),
    ("insert", ("entry.sql@1", "exit.sql@1"), 8),
    ("20 inserts/txn", ("batch20.sql",), 1),
    ("status update", ("update.sql",), 1),
    ("status update", ("update.sql",), 8),
)


def _pgbench_binary(srv: Server) -> str:
    import shutil

    for candidate in (srv.bindir / "pgbench" if srv.bindir else None, shutil.which("pgbench")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise RuntimeError("pgbench not found (beside the server's binaries or on PATH); install the PostgreSQL client")


def _backend_cpu_ns(pid: int) -> int | None:
    """CPU time a server process has run so far (``/proc/<pid>/schedstat``), None off Linux or once
    it has exited."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def run_pgbench(binary: str, srv: Server, db: str, scripts: Path, files: tuple[str, ...], clients: int,
                seconds: float, user: str | None = None) -> tuple[float, float | None]:
    """Transactions per second of one ``pgbench`` run (simple protocol, no vacuum, ``-T seconds``),
    and the server CPU per transaction in microseconds (None when the server's processes cannot be
    read: another host, not Linux).

    The CPU figure sums the pgbench backends' CPU time (``/proc/<pid>/schedstat``, sampled every
    0.1 s from when they appear to their last sample) and scales it to the whole run by wall time.
    On a shared machine it is much steadier than tps: other work delays a backend (fewer
    transactions per second) far more than it makes each transaction cost more CPU."""
    import subprocess

    argv = [binary, "-n", "-h", srv.host, "-p", str(srv.port), "-U", user or srv.user, "-c", str(clients),
            "-j", str(min(clients, 2)), "-T", str(max(1, round(seconds)))]
    for f in files:
        argv += ["-f", str(scripts / f)]
    first: dict[int, tuple[float, int]] = {}
    last: dict[int, tuple[float, int]] = {}
    started = time.perf_counter()
    with psycopg.connect(srv.dsn(db), autocommit=True) as watch, \
            subprocess.Popen([*argv, db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        while proc.poll() is None:
            pids = [r[0] for r in watch.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = %s",
                (db,), prepare=False)]
            for pid in pids:
                cpu = _backend_cpu_ns(pid)
                if cpu is not None:
                    first.setdefault(pid, (time.perf_counter(), cpu))
                    last[pid] = (time.perf_counter(), cpu)
            time.sleep(0.1)
        out, err = proc.communicate()
    wall = time.perf_counter() - started
    tps = next((float(line.split()[2]) for line in out.splitlines() if line.startswith("tps = ")), None)
    done = next((int(line.split()[-1]) for line in out.splitlines()
                 if line.startswith("number of transactions actually processed")), None)
    if tps is None or not done:
        raise RuntimeError(f"pgbench on {db} failed: {(err or out).strip()[-500:]}")
    cpu_us: float | None = None
    spans = [(last[p][0] - first[p][0], last[p][1] - first[p][1]) for p in first if last[p][0] > first[p][0]]
    if spans:
        window = sum(t for t, _ in spans) / len(spans)
        cpu_us = sum(c for _, c in spans) / 1000 * (min(wall, seconds) / window) / done if window > 0 else None
    return tps, cpu_us


# head with one integrity choice undone (measurements, not schemas to ship): what each costs a writer.
_DROP_FK = "ALTER TABLE walltrack.orders DROP CONSTRAINT orders_position_id_fkey"
_DROP_CHECKS = "ALTER TABLE walltrack.orders " + ", ".join(
    f"DROP CONSTRAINT {name}" for name in (
        "orders_amount_sol_positive", "orders_amount_tokens_positive", "orders_expected_price_positive",
        "orders_actual_price_positive", "orders_max_slippage_bps_range", "orders_max_attempts_positive",
        "orders_attempts_within_limit", "orders_direction_matches_type"))
_DROP_INSERT_TRIGGER = "; ".join(f"DROP TRIGGER {t.name} ON walltrack.orders" for t in COUNT_TRIGGERS
                                 if t.events == ("INSERT",))
_DOMAINS = (  # (column, its type, the domain's CHECK, the CHECK constraint it replaces)
    ("amount_sol", "numeric(20,8)", "VALUE > 0.0", "orders_amount_sol_positive"),
    ("amount_tokens", "numeric(30,8)", "VALUE > 0.0", "orders_amount_tokens_positive"),
    ("expected_price", "numeric(30,12)", "VALUE > 0.0", "orders_expected_price_positive"),
    ("actual_price", "numeric(30,12)", "VALUE > 0.0", "orders_actual_price_positive"),
    ("max_slippage_bps", "integer", "VALUE BETWEEN 0 AND 10000", "orders_max_slippage_bps_range"),
    ("max_attempts", "integer", "VALUE >= 1", "orders_max_attempts_positive"),
)
_AS_DOMAINS = "; ".join([
    "DROP VIEW walltrack.order_history", "DROP VIEW walltrack.order_stats",
    *(f"CREATE DOMAIN walltrack.{column}_t AS {type_} CHECK ({check})" for column, type_, check, _ in _DOMAINS),
    "ALTER TABLE walltrack.orders " + ", ".join(f"DROP CONSTRAINT {name}" for *_, name in _DOMAINS),
    "ALTER TABLE walltrack.orders " + ", ".join(f"ALTER COLUMN {column} TYPE walltrack.{column}_t"
                                                for column, *_ in _DOMAINS)])
_MERGED_CHECK = " AND ".join(f"({c})" for c in (
    "amount_sol > 0.0", "amount_tokens > 0.0", "expected_price > 0.0", "actual_price > 0.0",
    "max_slippage_bps BETWEEN 0 AND 10000", "max_attempts >= 1", "attempt_count >= 0 AND attempt_count <= max_attempts",
    "(order_type = 'entry' AND side = 'buy' AND signal_id IS NOT NULL) OR "
    "(order_type = 'exit' AND side = 'sell' AND position_id IS NOT NULL)"))
BENCH_APP_USER = "walltrack_bench_app"
"""The login role pgbench writes as in the ``head-app`` runs: a member of the app role, as production's
login is, so the app role's grants and row security apply (a superuser, the other runs' writer,
bypasses row security)."""
APP_RUN = f"written as {BENCH_APP_USER}, a login role in {APP}: its grants and row security apply"
PGBENCH_ABLATIONS = {
    "head-fk": ("without the position FK", _DROP_FK),
    "head-checks": ("without the 8 CHECKs head added", _DROP_CHECKS),
    # what the hardening version's SECURITY DEFINER trigger functions cost (a user switch per call)
    "head-invoker": ("with its trigger functions SECURITY INVOKER, as before the hardening version",
                     "; ".join(f"ALTER FUNCTION walltrack.{f}() SECURITY INVOKER" for f in DEFINERS)),
    # each remaining lever alone: the settled-count INSERT trigger (what a trigger skipped for open
    # orders would save them), and V9's random ids instead of uuid_v7() (what time-ordered ids cost)
    "head-notrigger": ("without the settled-count INSERT trigger", _DROP_INSERT_TRIGGER),
    "head-uuid4": ("with V9's id default gen_random_uuid() instead of uuid_v7()",
                   "ALTER TABLE walltrack.orders ALTER COLUMN id SET DEFAULT gen_random_uuid()"),
    # the FK and the INSERT trigger are head's only AFTER INSERT triggers: without both, an insert
    # queues no after-trigger event and captures no transition table at all
    "head-noafter": ("without the FK and the settled-count INSERT trigger", f"{_DROP_FK}; {_DROP_INSERT_TRIGGER}"),
    # the six one-column CHECKs as domains (checked from the type cache, not re-read per statement);
    # the ablation drops the views that would block the type change (the patterns do not read them)
    "head-domains": ("with its six one-column CHECKs as domain types", _AS_DOMAINS),
    # the same 8 conditions in one CHECK (the same rows pass: each part TRUE or NULL), one name in errors
    "head-merged": ("with the 8 CHECKs it added as one CHECK of the same meaning",
                    f"{_DROP_CHECKS}; ALTER TABLE walltrack.orders ADD CONSTRAINT orders_rules CHECK ({_MERGED_CHECK}) "
                    "NOT VALID"),
    # the floor: what head's indexes, defaults and story triggers cost with none of its integrity
    "head-bare": ("without the FK, the 8 CHECKs and the settled-count INSERT trigger",
                  f"{_DROP_FK}; {_DROP_CHECKS}; {_DROP_INSERT_TRIGGER}"),
}


def _load_run(dsn: str, project: Project, rows: int, run: str) -> None:
    """The synthetic load with a known run token (the scripts name its signals and positions)."""
    params = synthetic_parameters(rows, run)
    with psycopg.connect(dsn) as conn:
        for statement in project.synthetic_data:
            conn.execute(statement.encode() if "%(" not in statement else statement, params)
    say(f"    loaded {rows:,} orders (run {run})")


def pgbench_figures(srv: Server, project: Project, rows: int, seconds: float, rounds: int,
                    scripts: Path, ablations: Sequence[str] = (), app_role: bool = True) -> dict[str, Any]:
    binary = _pgbench_binary(srv)
    for name, text in pgbench_scripts(rows).items():
        (scripts / name).write_text(text, encoding="utf-8")
    story = _last_story_version(project)
    dbs = {"v9": f"bench_pgbench_v9_{rows}", "head": f"bench_pgbench_head_{rows}"}
    create_database(srv.dsn(), dbs["v9"])
    migrate(srv.dsn(dbs["v9"]), project.schema_dir, target=story)
    _load_run(srv.dsn(dbs["v9"]), project, rows, PGBENCH_RUN)
    create_database(srv.dsn(), dbs["head"], template=dbs["v9"])
    migrate(srv.dsn(dbs["head"]), project.schema_dir)
    users: dict[str, str] = {}
    if app_role:
        # head written as production writes it: a login role in the app role, row security on
        dbs["head-app"] = f"bench_pgbench_head_app_{rows}"
        users["head-app"] = BENCH_APP_USER
        create_database(srv.dsn(), dbs["head-app"], template=dbs["head"])
        with psycopg.connect(srv.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.SQL(ident(BENCH_APP_USER))))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                sql.SQL(ident(BENCH_APP_USER)), sql.SQL(ident(APP))))
    for label, (_, undo) in ((a, PGBENCH_ABLATIONS[a]) for a in ablations):
        dbs[label] = f"bench_pgbench_{label.replace('-', '_')}_{rows}"
        create_database(srv.dsn(), dbs[label], template=dbs["head"])
        with psycopg.connect(srv.dsn(dbs[label]), autocommit=True) as conn:
            for statement in undo.split("; "):
                conn.execute(statement.encode())
    # count_by_status on the loaded data (vacuumed, as a live database is), before the bench adds its
    # pool of open orders and the write patterns add open orders that never settle
    for db in dbs.values():
        with psycopg.connect(srv.dsn(db), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    count: dict[str, float] = {}
    open_orders = 0
    readers = [("v9", STORY_COUNT_BY_STATUS), ("head", project.query("count_by_status"))]
    readers += [(label, project.query("count_by_status")) for label in users]
    for label, query in readers:
        dsn = srv.dsn(dbs[label])
        if label in users:
            dsn = psycopg.conninfo.make_conninfo(dsn, user=users[label])
        with psycopg.connect(dsn, autocommit=True) as conn:

            def read(q: m.Query = query, c: psycopg.Connection[Any] = conn) -> None:
                c.execute(q.sql.encode(), q.params, prepare=False).fetchall()

            count[label] = statistics.median(timer(read, 21))
            if label not in users:
                row = conn.execute("SELECT count(*) FROM walltrack.orders"
                                   " WHERE status IN ('pending', 'submitted', 'confirming')").fetchone()
                open_orders = int(row[0]) if row else 0
    def label_of(db: str) -> str:
        return next(label for label, name in dbs.items() if name == db)

    for db in dbs.values():
        with psycopg.connect(srv.dsn(db), autocommit=True) as conn:
            add_pool(conn, POOL, users.get(label_of(db)))
    tps: dict[str, dict[str, list[float]]] = {label: {} for label in dbs}
    cpu: dict[str, dict[str, list[float]]] = {label: {} for label in dbs}
    for round_no in range(rounds):
        for pattern, files, clients in PGBENCH_PATTERNS:
            key = f"{pattern}, {clients} client{'s' if clients > 1 else ''}"
            # the schemas take turns, in reverse order every other round: whoever runs first in a
            # round does not always meet the same moment of the machine's load
            order = list(dbs.items()) if round_no % 2 == 0 else list(reversed(dbs.items()))
            for label, db in order:
                rate, per_txn = run_pgbench(binary, srv, db, scripts, files, clients, seconds, users.get(label))
                tps[label].setdefault(key, []).append(rate)
                if per_txn is not None:
                    cpu[label].setdefault(key, []).append(per_txn)
            say(f"   round {round_no + 1}/{rounds} {key}: "
                + ", ".join(f"{label} {tps[label][key][-1]:,.0f}" for label in dbs) + " tps; server CPU/txn "
                + ", ".join(f"{label} {cpu[label][key][-1]:,.0f}" for label in dbs if cpu[label].get(key)) + " us")
    with psycopg.connect(srv.dsn(), autocommit=True) as admin:
        for db in dbs.values():
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.SQL(ident(db))))
        if users:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.SQL(ident(BENCH_APP_USER))))
    return {
        "seconds": seconds, "rounds": rounds,
        "tps": {label: {k: round(statistics.median(v), 1) for k, v in by.items()} for label, by in tps.items()},
        "tps_rounds": {label: {k: [round(x) for x in v] for k, v in by.items()} for label, by in tps.items()},
        # schema / V9 within each round (the runs of one round are adjacent, so they share the
        # machine's load more than runs of different rounds do), median over the rounds
        "paired_ratio": {label: {k: round(statistics.median(x / b for x, b in zip(v, tps["v9"][k], strict=True)
                                                             if b), 2) if any(tps["v9"][k]) else None
                                 for k, v in by.items()} for label, by in tps.items() if label != "v9"},
        # server CPU per transaction (us), median over the rounds, and head / V9 as a throughput
        # ratio (V9's CPU / the schema's): what the schema costs, steadier than tps on a shared machine
        "cpu_us": {label: {k: round(statistics.median(v), 1) for k, v in by.items()} for label, by in cpu.items()},
        "cpu_rounds": {label: {k: [round(x, 1) for x in v] for k, v in by.items()} for label, by in cpu.items()},
        "cpu_ratio": {label: {k: round(statistics.median(cpu["v9"][k]) / statistics.median(v), 2)
                              for k, v in by.items() if cpu["v9"].get(k)}
                      for label, by in cpu.items() if label != "v9"},
        "count_by_status_ms": {label: round(v, 3) for label, v in count.items()},
        "open_orders": open_orders,
    }


def bench_pgbench(srv: Server, project: Project, results: Results, rows: int, seconds: float,
                  rounds: int, ablations: Sequence[str] = ()) -> None:
    import tempfile

    say(f"== pgbench: V9 and head on one server, {rows:,} synthetic orders each; {rounds} rounds of "
        f"{seconds:g} s per pattern, schemas in turn, medians")
    with tempfile.TemporaryDirectory(prefix="orders-schema-pgbench-") as scripts:
        figures = pgbench_figures(srv, project, rows, seconds, rounds, Path(scripts), ablations)
    others = [label for label in figures["tps"] if label not in ("v9", "head")]
    say(f"  {'pattern':28} {'V9 tps':>10} {'head tps':>10} {'head / V9':>10}"
        + "".join(f" {label + ' / V9':>16}" for label in others))
    for key, v9 in figures["tps"]["v9"].items():
        head = figures["tps"]["head"][key]
        say(f"  {key:28} {v9:10,.0f} {head:10,.0f} {'x%.2f' % (head / v9) if v9 else 'n/a':>10}"
            + "".join(f" {'x%.2f' % (figures['tps'][label][key] / v9) if v9 else 'n/a':>16}" for label in others))
    for label in others:
        say(f"  {label}: head {PGBENCH_ABLATIONS[label][0] if label in PGBENCH_ABLATIONS else APP_RUN}")
    for label, by in figures["paired_ratio"].items():
        say(f"  {label} / V9 paired (median of the per-round ratios): "
            + ", ".join(f"{key} x{r:.2f}" if r is not None else f"{key} n/a" for key, r in by.items()))
    us = figures["cpu_us"]
    for label, by in figures["cpu_ratio"].items():
        say(f"  {label} / V9 by server CPU per transaction (V9's / {label}'s, medians): "
            + ", ".join(f"{key} x{r:.2f} ({us['v9'][key]:,.0f} vs {us[label][key]:,.0f} us)" for key, r in by.items()))
    c = figures["count_by_status_ms"]
    say(f"  count_by_status median: V9 {c['v9']:.2f} ms, head {c['head']:.3f} ms (goal <= 5 ms)"
        + (f", as the app role {c['head-app']:.3f} ms" if "head-app" in c else "")
        + f", {figures['open_orders']:,} open orders")
    results.put("pgbench", f"{rows}", figures)


# ---------------------------------------------------------------------------------------------
# the everyday changes' round trip
# ---------------------------------------------------------------------------------------------

ROUNDTRIP_STEPS = (
    ("generate", "generate"), ("check", "check"), ("apply", "apply"), ("verify at the new head", "verify"),
    ("undo refused (loses data)", "refused"), ("undo", "undo"), ("verify at the previous release", "verify"),
    ("down script again", "down again"), ("verify again", "verify"), ("apply again", "apply again"),
    ("verify at the new head again", "verify"),
)


def bench_roundtrip(srv: Server, project: Project, results: Results, rows: int,
                    names: tuple[str, ...] = ()) -> None:
    """Every everyday change (or those ``names``) through the round trip on a clone of one database
    at the last release holding ``rows`` orders; each step's time, one line per change."""
    import tempfile

    from orders_schema.live.compare import declared_catalog
    from orders_schema.migrate.workflow import released_schema
    from orders_schema.tester.roundtrip import round_trip
    from orders_schema.tester.server import scratch_database
    from orders_schema.walltrack.everyday import EVERYDAY

    changes = [c for c in EVERYDAY if not names or c.name in names]
    unknown = sorted(set(names) - {c.name for c in EVERYDAY})
    if unknown:
        raise SystemExit(f"bench: error: no everyday change {', '.join(unknown)} "
                         f"(known: {', '.join(c.name for c in EVERYDAY)})")
    loaded = f"bench_roundtrip_{rows}"
    create_database(srv.dsn(), loaded)
    migrate(srv.dsn(loaded), project.schema_dir)
    load_s = _load(srv.dsn(loaded), project, rows)
    with psycopg.connect(srv.dsn(loaded), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    released = released_schema(project)
    assert released is not None
    catalog = declared_catalog(released, srv.dsn())
    say(f"\n== round trip of every everyday change on {rows:,} orders (load {load_s:.1f} s); ms per step")
    say("   verify: the live catalogue against the declarations' stored form, and every row's checksum")
    heads = [short for _, short in ROUNDTRIP_STEPS]
    say("   " + f"{'change':<24}" + "".join(f"{h:>12}" for h in ["clone", *heads]) + f"{'total':>10}")
    figures: dict[str, Any] = {"load_s": round(load_s, 2)}
    for change in changes:
        started = time.perf_counter()
        with scratch_database(srv.dsn(), "bench_rt", template=loaded) as dsn, \
                tempfile.TemporaryDirectory() as tmp:
            clone_ms = (time.perf_counter() - started) * 1000
            trip = round_trip(project, change.schema, change.name, dsn, Path(tmp), catalog)
        by_step: dict[str, float] = {}
        for step in trip.steps:
            by_step[step.name] = round(step.seconds * 1000, 1)
        cells = [f"{clone_ms:12.0f}"] + [f"{by_step[n]:12.0f}" if n in by_step else f"{'-':>12}"
                                         for n, _ in ROUNDTRIP_STEPS]
        total = sum(by_step.values()) + clone_ms
        say("   " + f"{change.name:<24}" + "".join(cells) + f"{total:10.0f}")
        figures[change.name] = {"clone_ms": round(clone_ms, 1), "steps_ms": by_step}
    results.put("roundtrip", f"{rows}", figures)


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from orders_schema.config import resolve
    from orders_schema.declare.project import load

    parser = argparse.ArgumentParser(
        prog="python -m orders_schema.walltrack.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="orders for the query and upgrade parts")
    parser.add_argument("--write-rows", type=int, default=None, help="rows for the write part (default: --rows)")
    parser.add_argument("--singles", type=int, default=5_000, help="single-row inserts / updates per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the write measurements (medians)")
    parser.add_argument("--repeat", type=int, default=200, help="runs per query")
    parser.add_argument("--pgbench-rows", type=int, default=None, help="orders for the pgbench part (default: --rows)")
    parser.add_argument("--pgbench-seconds", type=float, default=10, help="seconds per pgbench run")
    parser.add_argument("--pgbench-ablations", nargs="*", choices=sorted(PGBENCH_ABLATIONS), default=None,
                        metavar="VARIANT",
                        help="also run head with one integrity choice undone (each variant, or all when none "
                             f"is named): {', '.join(PGBENCH_ABLATIONS)}")
    parser.add_argument("--only", nargs="*", choices=PARTS, default=list(DEFAULT_PARTS))
    parser.add_argument("--roundtrip-changes", nargs="*", default=[],
                        help="the everyday changes the roundtrip part runs (default: all)")
    parser.add_argument("--pg", default=None, help="system, embedded, or a major version")
    parser.add_argument("--project", default=None, help="default: [tool.orders-schema] of pyproject.toml")
    parser.add_argument("--out", default="bench-results/bench.json")
    args = parser.parse_args(argv)
    try:
        project = load(*resolve(args.project, None))
    except ValueError as exc:  # not configured, or a project that does not load: one line, exit 2
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    results = Results()
    results.put("run", "rows", args.rows)
    results.put("run", "started", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    if "scale" in args.only:
        bench_scale(results)
    needs_server = set(args.only) - {"scale"}
    if needs_server:
        # autovacuum off: the bench VACUUMs and ANALYZEs itself, so no background pass lands in a timing
        choice = choose(args.pg)
        say(f"   server: {choice.describe()}")
        with throwaway_server(choice, settings=("shared_buffers=256MB", "max_wal_size=8GB", "autovacuum=off")) as srv:
            with psycopg.connect(srv.dsn()) as conn:
                version = conn.execute("SHOW server_version").fetchone()
            results.put("run", "server_version", version[0] if version else "?")
            say(f"   (PostgreSQL {results.figures['run']['server_version']}, fsync off, autovacuum off, "
                "throwaway server)")
            if "isolation" in args.only:
                bench_isolation(srv, project, results)
            if {"migrate", "queries"} & set(args.only):
                by_rows: dict[int, dict[str, Any]] = {}
                sizes = [args.rows] if "queries" not in args.only else sorted({max(1000, args.rows // 10), args.rows})
                for rows in sizes:
                    with _databases(srv, project, rows) as (v9, head, figures):
                        if rows == args.rows and "migrate" in args.only:
                            bench_migrate(srv, project, results, figures, rows)
                        if "queries" in args.only:
                            by_rows[rows] = bench_queries(v9, head, project, rows, args.repeat)
                if by_rows:
                    print_queries(results, by_rows)
            if "writes" in args.only:
                bench_writes(srv, project, results, args.write_rows or args.rows, args.singles, args.rounds, args.pg)
            if "pgbench" in args.only:
                named = args.pgbench_ablations
                variants = tuple(PGBENCH_ABLATIONS) if named == [] else tuple(named or ())
                bench_pgbench(srv, project, results, args.pgbench_rows or args.rows, args.pgbench_seconds,
                              args.rounds, variants)
            if "roundtrip" in args.only:
                bench_roundtrip(srv, project, results, args.rows, tuple(args.roundtrip_changes))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results.figures, indent=2) + "\n", encoding="utf-8")
    say(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
