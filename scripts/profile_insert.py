"""Where a single-row INSERT spends its time on the server: ``python scripts/profile_insert.py``.

Starts a throwaway PostgreSQL, applies every version (or ``--target N``), loads synthetic orders,
then runs a PL/pgSQL procedure that inserts one order and COMMITs per iteration (no client round
trips), under ``perf record -g`` attached to that backend. Prints the time per statement and the
inclusive share of the executor functions that matter here: ExecConstraints (CHECKs),
AfterTriggerEndQuery (AFTER triggers: the summary, the foreign key), ExecInsertIndexTuples
(indexes), CommitTransactionCommand. Needs ``perf`` (linux-perf) and the right to attach to the
server's processes (root, or ``kernel.perf_event_paranoid`` <= 1). A profile, not a benchmark:
the comparison figures come from ``python -m orders_schema.walltrack.bench``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from orders_schema.declare.project import load, synthetic_parameters
from orders_schema.live.apply import migrate
from orders_schema.tester.server import create_database, throwaway_server

LOOP = """CREATE PROCEDURE public.insert_orders(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        INSERT INTO walltrack.orders (order_type, side, signal_id, token_address, amount_sol, expected_price)
        VALUES ('entry', 'buy', 'sig-1', 'Tok0000000000000000000000000000000000000001', 1.5, 0.0001);
        {commit}
    END LOOP;
END $$"""
SYMBOLS = ("ExecConstraints", "AfterTriggerEndQuery", "ExecInsertIndexTuples", "CommitTransactionCommand",
           "heap_hot_search_buffer")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=None, help="last version to apply (default: all)")
    parser.add_argument("--rows", type=int, default=20_000, help="synthetic orders loaded first")
    parser.add_argument("--statements", type=int, default=20_000, help="single-row INSERTs profiled")
    parser.add_argument("--pg", default=None, help="system, embedded, or a major version")
    parser.add_argument("--one-transaction", action="store_true",
                        help="no COMMIT in the loop: every statement of a call in one transaction")
    args = parser.parse_args(argv)
    perf = shutil.which("perf")
    project = load("orders_schema.walltrack:PROJECT", Path("schema"))
    with throwaway_server(args.pg, settings=("autovacuum=off",)) as srv:
        create_database(srv.dsn(), "profile")
        dsn = srv.dsn("profile")
        migrate(dsn, project.schema_dir, target=args.target)
        with psycopg.connect(dsn, autocommit=True) as conn:
            params = synthetic_parameters(args.rows)
            for statement in project.synthetic_data:
                conn.execute(statement, params)
            conn.execute("INSERT INTO walltrack.signals (id) VALUES ('sig-1') ON CONFLICT DO NOTHING")
            conn.execute(LOOP.replace("{commit}", "" if args.one_transaction else "COMMIT;"))
            conn.execute("CALL public.insert_orders(500)")  # warm caches and plans
            started = time.perf_counter()
            conn.execute("CALL public.insert_orders(%s)", [args.statements])
            each = "INSERT" if args.one_transaction else "INSERT + COMMIT"
            print(f"{(time.perf_counter() - started) / args.statements * 1e6:.1f} us per {each} "
                  f"({args.statements:,} statements, no round trips)")
            if perf is None:
                print("perf is not installed: no profile")
                return 0
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            data = Path(tempfile.mkdtemp()) / "perf.data"
            recorder = subprocess.Popen([perf, "record", "-g", "-o", str(data), "-p", str(pid)],
                                        stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            conn.execute("CALL public.insert_orders(%s)", [args.statements])
            recorder.send_signal(2)
            recorder.wait()
    report = subprocess.run([perf, "report", "-i", str(data), "--children", "--sort", "symbol", "-g", "none"],
                            capture_output=True, text=True, check=False).stdout
    shown: set[str] = set()
    for line in report.splitlines():  # "  38.26%   0.27%  [.] ExecConstraints  ...", largest first
        fields = line.split()
        if "[.]" in fields and fields.index("[.]") + 1 < len(fields):
            symbol = fields[fields.index("[.]") + 1]
            if symbol in SYMBOLS and symbol not in shown:
                shown.add(symbol)
                print(f"  {symbol:28} {fields[0]:>7} of the backend's time (inclusive)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
