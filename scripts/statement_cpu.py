"""Server CPU per single-row statement, schema variants side by side: ``python scripts/statement_cpu.py``.

Starts a throwaway PostgreSQL (fsync off, autovacuum off), builds V9 and head from the same
synthetic orders (the pgbench run's keys), then head variants (each a copy of head with SQL applied,
``--variant NAME=SQL``, several allowed; ``--as-app`` adds head written by a login role in the app
role). Each round, the databases take turns (in reverse order every other round): one connection
sends ``--statements`` unprepared single-row INSERTs (half entry with a signal, half exit with a
position, autocommit: the pgbench insert pattern) and then as many status updates (pending ->
submitted -> confirming -> pending on a pool of open orders), and the backend's CPU time
(``/proc/<pid>/schedstat``) is divided by the statements. Prints the median and the minimum over the
rounds. Backend CPU is what the schema adds per statement, and it is much steadier than throughput
on a shared machine. A profile helper, not a benchmark: the comparison figures come from
``python -m orders_schema.walltrack.bench``.
"""

from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from orders_schema.declare.project import load
from orders_schema.declare.quoting import ident
from orders_schema.live.apply import migrate
from orders_schema.tester.server import create_database, throwaway_server
from orders_schema.walltrack.bench import (
    _ENTRY,
    _EXIT,
    BENCH_APP_USER,
    PGBENCH_ABLATIONS,
    PGBENCH_RUN,
    _load_run,
    add_pool,
)
from orders_schema.walltrack.head import APP


def backend_cpu_us(pid: int) -> float:
    return int(Path(f"/proc/{pid}/schedstat").read_text(encoding="ascii").split()[0]) / 1000


def statements(rows: int, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    signals, positions = max(1, rows * 6 // 10), max(1, rows * 4 // 10)
    out = []
    for i in range(n):
        text = (_ENTRY if i % 2 == 0 else _EXIT).format(i=0, run=PGBENCH_RUN)
        out.append(text.replace(":s0", str(rng.randint(1, signals))).replace(":p0", str(rng.randint(1, positions))))
    return out


SYMBOLS = (
    ("pg_parse_query", "parse"),
    ("parse_analyze_fixedparams", "analyse and rewrite"),
    ("build_column_default", "defaults read (rewrite)"),
    ("get_row_security_policies", "row security (rewrite)"),
    ("pg_plan_queries", "plan"),
    ("ExecConstraints", "CHECKs"),
    ("stringToNode", "stored trees read (CHECKs, defaults)"),
    ("ExecInsertIndexTuples", "indexes"),
    ("AfterTriggerEndQuery", "AFTER triggers: FK, INSERT trigger"),
    ("SPI_execute_snapshot", "the FK's lookup"),
    ("fmgr_security_definer", "calls with SET / DEFINER"),
    ("plpgsql_call_handler", "PL/pgSQL: uuid_v7, trigger"),
    ("ProcessGUCArray", "pinned search_path set"),
    ("AtEOXact_GUC", "pinned search_path restored"),
    ("CommitTransactionCommand", "commit"),
)


def per_statement(dsn: str, texts: list[str], perf_out: Path | None = None) -> float:
    import subprocess
    import time

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pid = int(row[0])
        for text in texts[:50]:  # warm the session's caches
            conn.execute(text.encode(), prepare=False)
        recorder = None
        if perf_out is not None:
            recorder = subprocess.Popen(["perf", "record", "-g", "-o", str(perf_out), "-p", str(pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        before = backend_cpu_us(pid)
        for text in texts[50:]:
            conn.execute(text.encode(), prepare=False)
        spent = (backend_cpu_us(pid) - before) / (len(texts) - 50)
        if recorder is not None:
            recorder.send_signal(2)
            recorder.wait()
        return spent


def shares(perf_data: Path) -> dict[str, float]:
    """Inclusive share of the backend's samples per symbol of SYMBOLS."""
    import subprocess

    report = subprocess.run(["perf", "report", "-i", str(perf_data), "--children", "--sort", "symbol", "-g", "none"],
                            capture_output=True, text=True, check=False).stdout
    wanted = {name for name, _ in SYMBOLS}
    out: dict[str, float] = {}
    for line in report.splitlines():  # "  38.26%   0.27%  [.] ExecConstraints", largest first
        fields = line.split()
        if "[.]" in fields and fields.index("[.]") + 1 < len(fields):
            symbol = fields[fields.index("[.]") + 1]
            if symbol in wanted and symbol not in out:
                out[symbol] = float(fields[0].rstrip("%"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--statements", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--variant", action="append", default=[], help="NAME=SQL (statements split on '; ')")
    parser.add_argument("--ablation", action="append", default=[], choices=sorted(PGBENCH_ABLATIONS),
                        help="a variant of the benchmark's --pgbench-ablations, by name (several allowed)")
    parser.add_argument("--as-app", action="store_true", help="also head written as a login role in the app role")
    parser.add_argument("--no-updates", action="store_true")
    parser.add_argument("--pg", default=None)
    parser.add_argument("--perf", nargs="*", default=[],
                        help="after the rounds, profile these schemas' inserts with perf (inclusive shares)")
    args = parser.parse_args(argv)
    project = load("orders_schema.walltrack:PROJECT", Path("schema"))
    with throwaway_server(args.pg, settings=("autovacuum=off",)) as srv:
        dbs = {"v9": "cpu_v9", "head": "cpu_head"}
        create_database(srv.dsn(), dbs["v9"])
        migrate(srv.dsn(dbs["v9"]), project.schema_dir, target=9)
        _load_run(srv.dsn(dbs["v9"]), project, args.rows, PGBENCH_RUN)
        create_database(srv.dsn(), dbs["head"], template=dbs["v9"])
        migrate(srv.dsn(dbs["head"]), project.schema_dir)
        users: dict[str, str] = {}
        for spec in [f"{name}={PGBENCH_ABLATIONS[name][1]}" for name in args.ablation] + args.variant:
            name, _, text = spec.partition("=")
            dbs[name] = f"cpu_{name.replace('-', '_')}"
            create_database(srv.dsn(), dbs[name], template=dbs["head"])
            with psycopg.connect(srv.dsn(dbs[name]), autocommit=True) as conn:
                for statement in text.split("; "):
                    conn.execute(statement.encode())
        if args.as_app:
            dbs["head-app"] = "cpu_head_app"
            users["head-app"] = BENCH_APP_USER
            create_database(srv.dsn(), dbs["head-app"], template=dbs["head"])
            with psycopg.connect(srv.dsn(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                    sql.SQL(ident(BENCH_APP_USER)), sql.SQL(ident(APP))))
        pool = 2_000
        for label, db in dbs.items():
            with psycopg.connect(srv.dsn(db), autocommit=True) as conn:
                add_pool(conn, pool, users.get(label))
                row = conn.execute("SELECT count(*), sum(length(conbin)) FROM pg_catalog.pg_constraint"
                                   " WHERE conrelid = 'walltrack.orders'::regclass AND contype = 'c'").fetchone()
                assert row is not None
                print(f"{label}: {row[0]} CHECKs, {row[1]:,} characters of stored expression", flush=True)
        results: dict[str, dict[str, list[float]]] = {label: {"insert": [], "update": []} for label in dbs}
        rng = random.Random(7)
        for round_no in range(args.rounds):
            inserts = statements(args.rows, args.statements + 50, round_no)
            updates = [
                "UPDATE walltrack.orders SET status = CASE status WHEN 'pending' THEN 'submitted' "
                "WHEN 'submitted' THEN 'confirming' ELSE 'pending' END "
                f"WHERE id = (SELECT id FROM public.bench_pool WHERE n = {rng.randint(1, pool)})"
                for _ in range(args.statements + 50)]
            order = list(dbs.items()) if round_no % 2 == 0 else list(reversed(dbs.items()))
            for label, db in order:
                dsn = srv.dsn(db)
                if label in users:
                    dsn = conninfo.make_conninfo(dsn, user=users[label])
                results[label]["insert"].append(per_statement(dsn, inserts))
                if not args.no_updates:
                    results[label]["update"].append(per_statement(dsn, updates))
            print(f"round {round_no + 1}: " + ", ".join(
                f"{label} {r['insert'][-1]:.0f}" + (f"/{r['update'][-1]:.0f}" if r["update"] else "")
                for label, r in results.items()) + " us (insert/update)", flush=True)
        print(f"{'schema':14} {'insert med':>10} {'min':>6} {'update med':>10} {'min':>6}"
              "   (us of backend CPU per statement)")
        for label, r in results.items():
            line = f"{label:14} {statistics.median(r['insert']):10.1f} {min(r['insert']):6.1f}"
            if r["update"]:
                line += f" {statistics.median(r['update']):10.1f} {min(r['update']):6.1f}"
            print(line)
        if args.perf:
            import tempfile

            inserts = statements(args.rows, 4 * args.statements + 50, 99)
            profiles = {}
            for label in args.perf:
                dsn = srv.dsn(dbs[label])
                if label in users:
                    dsn = conninfo.make_conninfo(dsn, user=users[label])
                data = Path(tempfile.mkdtemp()) / "perf.data"
                cpu = per_statement(dsn, inserts, data)
                profiles[label] = (cpu, shares(data))
            print(f"\n{'inclusive share of the backend (perf)':48}" + "".join(f"{label:>14}" for label in profiles))
            print(f"{'  backend CPU per insert (us)':48}" + "".join(f"{cpu:14.1f}" for cpu, _ in profiles.values()))
            for symbol, what in SYMBOLS:
                print(f"  {symbol + ' (' + what + ')':46}"
                      + "".join(f"{s.get(symbol, 0.0):13.1f}%" for _, s in profiles.values()))
        if args.as_app:
            with psycopg.connect(srv.dsn(), autocommit=True) as conn:
                for db in dbs.values():
                    conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.SQL(ident(db))))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.SQL(ident(BENCH_APP_USER))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
