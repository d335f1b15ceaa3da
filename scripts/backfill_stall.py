#!/usr/bin/env python3
"""How long writers stall while a generated version adds a backfilled summary.

    python scripts/backfill_stall.py                       # 100k and 1M rows, both plans
    python scripts/backfill_stall.py --rows 100000 --pg 18

For each size and each plan, on a fresh database of a throwaway server: a table ``orders`` of N
rows (a random UUID key, status, type, simulated flag), then the version ``generate`` writes for a
new summary ``order_status_counts`` (count per simulated flag, type and status, kept up to date by
statement-level triggers with transition tables, as WallTrack's V10 does) is applied while two
psycopg writers run: one inserts an order per transaction, one changes an order's status per
transaction. Each writer transaction's latency is recorded; the figures are the longest one that
overlapped the apply and the 99th percentile, next to the same over a window as long as the apply
right after it (the noise floor of a shared machine).

The plans: ``batched`` is what ``generate`` writes now (kinds/backfill.py: the setup in the
transaction, the batches in the online version); ``in-transaction`` is what it wrote before, the
backfill in the transaction after the triggers (forced here by telling the planner the shape does
not batch). After each run the summary is compared with a fresh count (it must be exact).

A benchmark, not a test: figures go to docs/benchmarks.md ("Backfill lock budget").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare import project as p
from orders_schema.declare.summary import kept_summary
from orders_schema.kinds import backfill
from orders_schema.live.apply import migrate
from orders_schema.migrate import workflow
from orders_schema.store.files import version_files
from orders_schema.tester.server import create_database, drop_database, throwaway_server

ORDERS = m.Table(
    name="orders",
    columns=(
        m.Column(name="id", type=m.UUID, nullable=False, default="gen_random_uuid()"),
        m.Column(name="is_simulated", type=m.BOOLEAN, nullable=False, default="FALSE"),
        m.Column(name="order_type", type=m.varchar(10), nullable=False),
        m.Column(name="status", type=m.varchar(20), nullable=False),
        m.Column(name="amount_sol", type=m.numeric(20, 8), nullable=False),
        m.Column(name="created_at", type=m.TIMESTAMPTZ, nullable=False, default="NOW()"),
    ),
    primary_key=m.PrimaryKey(columns=("id",)),
)
V1_STATE = m.Schema(name="bench", tables=(ORDERS,))
V1 = m.Version(number=1, name="orders", create_schema=True, state=V1_STATE,
               phases=(m.Phase(title="PHASE 1", items=(ORDERS,)),))
ORDERS_COUNTED, COUNTS, COUNT = kept_summary(
    "bench", ORDERS, "order_status_counts", ("is_simulated", "order_type", "status"),
    function="count_order_statuses", count="order_count", count_default="0",
    old_rows="old_orders", new_rows="new_orders")
HEAD = m.Schema(name="bench", tables=(ORDERS_COUNTED, COUNTS), functions=(COUNT,))
FILL = """INSERT INTO bench.orders (is_simulated, order_type, status, amount_sol)
SELECT g % 7 = 0, (ARRAY['entry','exit'])[1 + g % 2],
       (ARRAY['pending','submitted','filled','cancelled','failed'])[1 + g % 5], 1 + g % 100
FROM generate_series(1, %s) g"""
FRESH = "SELECT is_simulated, order_type, status, count(*) FROM bench.orders GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
SUMMARY = ("SELECT is_simulated, order_type, status, order_count FROM bench.order_status_counts "
           "WHERE order_count <> 0 ORDER BY 1, 2, 3")
WRITES = {
    "insert": "INSERT INTO bench.orders (order_type, status, amount_sol) VALUES ('entry', 'pending', 1)",
    "status update": "UPDATE bench.orders SET status = 'filled' WHERE id = (SELECT id FROM bench.orders "
                     "WHERE status = 'pending' LIMIT 1)",
}


def generated(folder: Path, plan: str) -> Path:
    """The versions generate writes for the summary, under ``plan``."""
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=folder))
    real = backfill.shape
    if plan == "in-transaction":
        backfill.shape = lambda *args: "forced in the transaction for comparison"  # type: ignore[assignment]
    try:
        workflow.generate(p.Project(schema=HEAD, versions=(V1,), schema_dir=folder), "status_counts")
    finally:
        backfill.shape = real  # type: ignore[assignment]
    return folder


def writer(dsn: str, sql: str, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    """One transaction after another; (start, end) of each."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            started = time.perf_counter()
            conn.execute(sql.encode())
            out.append((started, time.perf_counter()))


def run(dsn: str, rows: int, plan: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = generated(Path(tmp) / "schema", plan)
        migrate(dsn, folder, target=1)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(FILL.replace("%s", str(int(rows))).encode())
            conn.execute("VACUUM ANALYZE bench.orders")
        stop = threading.Event()
        latencies: dict[str, list[tuple[float, float]]] = {name: [] for name in WRITES}
        threads = [threading.Thread(target=writer, args=(dsn, sql, stop, latencies[name]))
                   for name, sql in WRITES.items()]
        for t in threads:
            t.start()
        time.sleep(1.5)
        began = time.perf_counter()
        steps: list[tuple[str, float, float]] = []
        for file in [f for f in version_files(folder) if f.number > 1]:  # one version at a time, timed
            started = time.perf_counter()
            migrate(dsn, folder, target=file.number)
            steps.append((f"V{file.number}", started, time.perf_counter()))
        ended = time.perf_counter()
        time.sleep(max(1.0, ended - began))  # a window as long as the apply, for the noise floor
        stop.set()
        for t in threads:
            t.join()
        with psycopg.connect(dsn) as conn:
            exact = conn.execute(SUMMARY).fetchall() == conn.execute(FRESH).fetchall()
    figures: dict[str, Any] = {
        "rows": rows, "plan": plan, "apply_s": round(ended - began, 3), "exact": exact,
        "versions": {name: round((end - start) * 1000) for name, start, end in steps},
    }
    for name, spans in latencies.items():
        during = [(e - s) * 1000 for s, e in spans if e >= began and s <= ended]
        before = [(e - s) * 1000 for s, e in spans if e < began]
        after = [(e - s) * 1000 for s, e in spans if s > ended]
        figures[name] = {
            "longest_during_ms": round(max(during, default=0.0), 1),
            "p99_during_ms": round(statistics.quantiles(during, n=100)[98], 2) if len(during) >= 100 else None,
            "writes_during": len(during),
            "longest_per_version_ms": {
                name: round(max(((e - s) * 1000 for s, e in spans if e >= start and s <= end), default=0.0), 1)
                for name, start, end in steps},
            "longest_before_ms": round(max(before, default=0.0), 1),
            "longest_after_ms": round(max(after, default=0.0), 1),
            "p99_after_ms": round(statistics.quantiles(after, n=100)[98], 2) if len(after) >= 100 else None,
            "median_before_ms": round(statistics.median(before), 2) if before else None,
        }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="orders (repeatable; default 100000 and 1000000)")
    parser.add_argument("--plan", action="append", choices=("in-transaction", "batched"),
                        help="repeatable; default both")
    parser.add_argument("--pg", default=None, help="system, embedded or a major version")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    sizes = args.rows or [100_000, 1_000_000]
    results = []
    with throwaway_server(args.pg, settings=("fsync=off", "autovacuum=off")) as server:
        version = psycopg.connect(server.dsn()).execute("SHOW server_version").fetchone()
        print(f"PostgreSQL {version[0] if version else '?'}; batches of about {backfill.BATCH_MILLISECONDS} ms",
              flush=True)
        print("| rows | plan | apply | insert: longest during (p99) | after: longest (p99) | status update: longest "
              "during (p99) | after: longest (p99) | exact |", flush=True)
        print("| --- " * 8 + "|", flush=True)
        for rows in sizes:
            for plan in args.plan or ("in-transaction", "batched"):
                name = f"stall_{rows}_{plan.replace('-', '_')}"
                create_database(server.dsn(), name)
                try:
                    figures = run(server.dsn(name), rows, plan)
                finally:
                    drop_database(server.dsn(), name)
                results.append(figures)
                cells = [f"{w['longest_during_ms']} ms ({w['p99_during_ms']}) | {w['longest_after_ms']} ms "
                         f"({w['p99_after_ms']})" for w in (figures["insert"], figures["status update"])]
                print(f"| {rows:,} | {plan} | {figures['apply_s']:.2f} s | {' | '.join(cells)} "
                      f"| {'yes' if figures['exact'] else 'NO'} |", flush=True)
                print(f"    per version: {figures['versions']} ms; longest insert stall per version: "
                      f"{figures['insert']['longest_per_version_ms']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
