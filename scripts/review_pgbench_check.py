"""The outside check of ``orders-schema review``: ``python scripts/review_pgbench_check.py N [--rows R]``.

Independent of the review's probes and monitor: starts a throwaway PostgreSQL, brings a database
to version N-1 with ``migrate``, fills it with WallTrack's synthetic data (R orders) and ANALYZEs
it, as the review does; then runs ``pgbench -n -c 1 -l`` with a single-row entry-order INSERT
(committed) and, 2.5 s in, applies version N by hand with ``psql -1 -f``. Prints the largest
per-transaction latency in pgbench's log among the transactions that overlapped the apply, beside
the latency before it. Compare with the review's "worst writer stall" (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from orders_schema.declare.project import synthetic_parameters
from orders_schema.live.apply import migrate
from orders_schema.store.files import version_files
from orders_schema.tester.server import create_database, throwaway_server
from orders_schema.walltrack import PROJECT

RUN = "pgbchk"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", type=int)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=6, help="pgbench -T (the apply starts 2.5 s in)")
    args = parser.parse_args()
    schema = Path("schema").resolve()
    files = {f.number: f for f in version_files(schema)}
    before = max(n for n in files if n < args.version)
    with throwaway_server() as srv:
        assert srv.bindir is not None
        create_database(srv.dsn(), "chk")
        dsn = srv.dsn("chk")
        migrate(dsn, schema, target=before)
        params = synthetic_parameters(args.rows, RUN)
        with psycopg.connect(dsn) as conn:
            for statement in PROJECT.synthetic_data:
                conn.execute(statement.encode() if "%(" not in statement else statement, params)
            conn.commit()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("ANALYZE")
        work = Path(tempfile.mkdtemp(prefix="review-pgbench-"))
        (work / "writer.sql").write_text(
            f"\\set s random(1, {max(1, args.rows * 6 // 10)})\n"
            "INSERT INTO walltrack.orders (order_type, side, signal_id, token_address, token_symbol, amount_sol, "
            f"expected_price, status) VALUES ('entry', 'buy', 'sig-{RUN}-' || :s, 'Tok1', 'T1', 1.5, 0.0001, "
            "'pending');\n", encoding="utf-8")
        pgbench = subprocess.Popen(
            [str(srv.bindir / "pgbench"), "-n", "-c", "1", "-T", str(args.seconds), "-l", "--log-prefix",
             str(work / "log"), "-f", str(work / "writer.sql"), "-h", srv.host, "-p", str(srv.port), "-U", srv.user,
             "chk"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work)
        time.sleep(2.5)
        started = time.time()
        applied = subprocess.run([str(srv.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f",
                                  str(files[args.version].path), dsn], capture_output=True, text=True)
        ended = time.time()
        pgbench.communicate()
        if applied.returncode:
            raise SystemExit(f"psql failed: {applied.stderr.strip()}")
        spans = []  # (start, end, latency ms) of every transaction: pgbench logs latency and end time
        for log in work.glob("log*"):
            for line in log.read_text(encoding="utf-8").splitlines():
                fields = line.split()
                if len(fields) >= 6:
                    latency_us, end = int(fields[2]), int(fields[4]) + int(fields[5]) / 1e6
                    spans.append((end - latency_us / 1e6, end, latency_us / 1000))
        calm = sorted(ms for _, end, ms in spans if end < started)
        during = [ms for start, end, ms in spans if end > started and start < ended]
        print(f"V{args.version} at {args.rows:,} rows: psql -1 -f apply {1000 * (ended - started):.0f} ms (psql start "
              f"included); pgbench writer max latency overlapping the apply {max(during, default=0):.1f} ms over "
              f"{len(during)} transactions; before it: median {calm[len(calm) // 2] if calm else 0:.2f} ms, max "
              f"{max(calm, default=0):.1f} ms over {len(calm)}")


if __name__ == "__main__":
    main()
