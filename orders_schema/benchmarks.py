"""The generic benchmark parts, for any project: per-test isolation on a server, and declare +
render + diff of large synthetic schemas (no database). WallTrack's benchmark
(:mod:`orders_schema.walltrack.bench`) runs them next to its own parts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare.project import Project
from orders_schema.live.apply import migrate
from orders_schema.migrate import diff, plan
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.server import Server, create_database, drop_database


@dataclass
class Results:
    figures: dict[str, Any] = field(default_factory=dict)

    def put(self, part: str, key: str, value: Any) -> None:
        self.figures.setdefault(part, {})[key] = value


def say(text: str = "") -> None:
    print(text, flush=True)


def timer(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------------------------
# isolation
# ---------------------------------------------------------------------------------------------


def bench_isolation(srv: Server, project: Project, results: Results, repeat: int = 40) -> None:
    say("== isolation: per-test setup + teardown, same server, same schema (head)")
    create_database(srv.dsn(), "bench_tmpl")
    migrate(srv.dsn("bench_tmpl"), project.schema_dir)
    with psycopg.connect(srv.dsn(), autocommit=True) as admin:
        admin.execute("ALTER DATABASE bench_tmpl WITH is_template true")
    create_database(srv.dsn(), "bench_rollback", template="bench_tmpl")
    conn = psycopg.connect(srv.dsn("bench_rollback"))

    def rollback_test() -> None:
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT 1")

    counter = iter(range(10**6))

    def clone_test() -> None:
        name = f"bench_clone_{next(counter)}"
        create_database(srv.dsn(), name, template="bench_tmpl")
        with psycopg.connect(srv.dsn(name)) as c:
            c.execute("SELECT 1")
        drop_database(srv.dsn(), name)

    rollback_test()
    ours = statistics.median(timer(rollback_test, repeat * 10))
    clone = statistics.median(timer(clone_test, repeat))
    conn.close()
    ratio = clone / ours if ours else float("inf")
    from orders_schema.live.compare import compare, declared_catalog
    from orders_schema.live.inspect import inspect_schema

    def structure() -> None:
        with psycopg.connect(srv.dsn("bench_rollback")) as c:
            compare(declared_catalog(project.schema, srv.dsn()), inspect_schema(c, project.schema.name))

    stages = statistics.median(timer(structure, 5))
    say(f"  structure check (inspect + declarations read back from a scratch database + compare): "
        f"median {stages:.0f} ms per run")
    results.put("isolation", "structure_check_ms", round(stages, 1))
    say(f"  rolled-back transaction  median {ours:8.3f} ms   (goal <= 5 ms)")
    say(f"  template clone (baseline) median {clone:8.1f} ms   -> {ratio:,.0f}x faster (goal >= 20x)")
    results.put("isolation", "rollback_ms", round(ours, 4))
    results.put("isolation", "template_clone_ms", round(clone, 2))
    results.put("isolation", "speedup", round(ratio, 1))


# ---------------------------------------------------------------------------------------------
# scale (no database)
# ---------------------------------------------------------------------------------------------


def synthetic_schema(tables: int, variant: int = 0) -> m.Schema:
    """``tables`` tables of 8 columns, 2 CHECKs, 2 indexes; a trigger and a view per ten tables."""
    fn = m.Function(name="touch", body="\nBEGIN\n    NEW.updated_at = now();\n    RETURN NEW;\nEND;\n")
    out: list[m.Table] = []
    views: list[m.View] = []
    for i in range(tables):
        name = f"t{i:05d}"
        columns = (
            m.Column(name="id", type=m.UUID, nullable=False, default="gen_random_uuid()"),
            m.Column(name="status", type=m.varchar(20), nullable=False, default=m.lit("new")),
            m.Column(name="amount", type=m.numeric(20, 8), nullable=False),
            m.Column(name="ref", type=m.BIGINT),
            m.Column(name="note", type=m.TEXT),
            m.Column(name="flag", type=m.BOOLEAN, nullable=False, default="false"),
            m.Column(name="created_at", type=m.TIMESTAMPTZ, nullable=False, default="now()"),
            m.Column(name="updated_at", type=m.TIMESTAMPTZ, nullable=False, default="now()"),
        )
        out.append(m.Table(
            name=name,
            columns=columns,
            primary_key=m.PrimaryKey(columns=("id",)),
            checks=(m.Check.one_of(f"{name}_status_check", "status", ("new", "open", "done")),
                    m.Check(name=f"{name}_amount_positive", expression="amount > 0")),
            indexes=(m.Index(name=f"{name}_created", columns=("created_at DESC",)),
                     m.Index(name=f"{name}_open", columns=("ref",), where="status <> 'done'")),
            triggers=(m.Trigger(name=f"{name}_touch", timing="BEFORE", events=("UPDATE",), function="touch"),)
            if i % 10 == 0 else (),
        ))
        if i % 10 == 0:
            views.append(m.View(name=f"{name}_summary",
                                query=f"SELECT t.status, count(*) AS n FROM s.{name} t GROUP BY t.status"))
    return m.Schema(name="s", tables=tuple(out), functions=(fn,), views=tuple(views))


def fifty_changes(schema: m.Schema) -> m.Schema:
    """A copy with 50 changes: 10 added columns, 10 CHECKs, 10 new and 10 dropped indexes, 10 views."""
    tables = list(schema.tables)
    step = max(1, len(tables) // 10)
    for k, i in enumerate(range(0, len(tables), step)):
        if k >= 10:
            break
        t = tables[i]
        tables[i] = t.model_copy(update={
            "columns": (*t.columns, m.Column(name="extra", type=m.TEXT)),
            "checks": (t.checks[0], m.Check(name=f"{t.name}_amount_positive", expression="amount >= 1")),
            "indexes": (t.indexes[0], m.Index(name=f"{t.name}_ref", columns=("ref", "created_at DESC"))),
        })
    views = [v.model_copy(update={"query": v.query.replace("count(*) AS n", "count(*) AS n, 1 AS one")})
             if k < 10 else v for k, v in enumerate(schema.views)]
    return schema.model_copy(update={"tables": tuple(tables), "views": tuple(views)})


def bench_scale(results: Results, sizes: tuple[int, ...] = (100, 1000, 5000)) -> None:
    say("== scale: declare, render and diff (50 changes), no database")
    rows = []
    for n in sizes:
        diff.normal.cache_clear()
        t0 = time.perf_counter()
        schema = synthetic_schema(n)
        t1 = time.perf_counter()
        text = RENDERER.script(plan.create_statements(schema))
        t2 = time.perf_counter()
        changed = fifty_changes(schema)
        t3 = time.perf_counter()
        changes = diff.diff(schema, changed)
        planned = plan.migration_plan(schema, changed, changes)
        t4 = time.perf_counter()
        total = t4 - t0
        rows.append((n, t1 - t0, t2 - t1, t4 - t3, total))
        say(f"  {n:5d} tables: declare {t1 - t0:6.3f} s  render {t2 - t1:6.3f} s ({len(text) / 1e6:.1f} MB)  "
            f"diff+plan {t4 - t3:6.3f} s ({len(changes)} changes, {len(planned.transactional) + len(planned.online)} "
            f"statements)  total {total:6.3f} s")
        results.put("scale", f"{n}_tables_s", {"declare": round(t1 - t0, 4), "render": round(t2 - t1, 4),
                                             "diff_plan": round(t4 - t3, 4), "total": round(total, 4),
                                             "changes": len(changes)})
    base = {n: tot for n, *_, tot in rows}
    if 100 in base and 1000 in base:
        say(f"  growth 100 -> 1000 tables: x{base[1000] / base[100]:.1f} (linear: x10); "
            f"1000-table total {base[1000]:.3f} s (goal <= 1 s)")
    if 1000 in base and 5000 in base:
        say(f"  growth 1000 -> 5000 tables: x{base[5000] / base[1000]:.1f} (linear: x5)")
