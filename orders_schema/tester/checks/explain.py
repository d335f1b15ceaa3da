"""Index usage: every declared query is served by the index it names, on realistic data.

The project's ``synthetic_data`` is loaded (``%(rows)s`` rows of the main table; every key it
writes carries ``%(run)s``, a token unique to the load, so it never collides with the rows of a
live database), the project's tables are ANALYZEd, and each :class:`~orders_schema.declare.model.Query`
with ``uses_index`` is EXPLAINed (``EXPLAIN (FORMAT JSON)``, never ANALYZE: nothing is executed)
with its ``example`` parameters. The case passes when the declared index appears anywhere in the plan tree (an
``"Index Name"`` of an Index Scan, Index Only Scan or Bitmap Index Scan). The planner is never
forced: seq scans stay enabled, so a pass means PostgreSQL *chose* the index.

:func:`run_explain` loads the data once inside a transaction, runs every EXPLAIN case, computes
the :class:`IndexUsage` report (declared indexes that no declared query's plan uses: a list to
read, not a failure) and rolls everything back. The rollback undoes the rows and the statistics
in ``pg_statistic``; ANALYZE's row-count estimate in ``pg_class`` is written in place and stays
until the next (auto)ANALYZE, and the aborted rows leave dead tuples for VACUUM. On a database
that already holds production data, pass ``rows=0`` to EXPLAIN against the data that is there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare.project import Project
from orders_schema.declare.quoting import query
from orders_schema.tester.checks import Case, CaseResult, CheckResult, Report, failed, passed, run_case, warning
from orders_schema.tester.data import (  # re-exported: the loader's documented home was this module
    LoadProgress,
    ProgressCallback,
    SyntheticDataCollision,
    load_synthetic_data,
    print_progress,
)


def explain(conn: psycopg.Connection, q_: m.Query) -> dict[str, Any]:
    """The plan of a declared query (the ``"Plan"`` node of ``EXPLAIN (FORMAT JSON)``)."""
    params = q_.params or None
    row = conn.execute(query("EXPLAIN (FORMAT JSON) " + q_.sql), params).fetchone()
    assert row is not None
    doc = row[0]
    plan: dict[str, Any] = doc[0]["Plan"]
    return plan


def plan_nodes(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every node of a plan tree, depth first (children are under ``"Plans"``)."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)


def plan_indexes(plan: Mapping[str, Any]) -> list[str]:
    """Names of the indexes a plan reads, in tree order, each once."""
    out: list[str] = []
    for node in plan_nodes(plan):
        name = node.get("Index Name")
        if isinstance(name, str) and name not in out:
            out.append(name)
    return out


def plan_summary(plan: Mapping[str, Any]) -> str:
    """``Limit > Index Scan using idx_orders_retry on orders``: the plan's nodes, one line."""
    parts = []
    for node in plan_nodes(plan):
        text = str(node.get("Node Type", "?"))
        if "Index Name" in node:
            text += f" using {node['Index Name']}"
        if "Relation Name" in node:
            text += f" on {node['Relation Name']}"
        parts.append(text)
    return " > ".join(parts)


def index_names(schema: m.Schema) -> dict[str, str]:
    """Every index the declarations create (primary keys and UNIQUE too) -> its table."""
    out: dict[str, str] = {}
    for table in schema.tables:
        if table.primary_key:
            out[table.pkey_name] = table.name
        for uq in table.uniques:
            out[uq.name] = table.name
        for index in table.indexes:
            out[index.name] = table.name
    return out


def _explained(conn: psycopg.Connection, q_: m.Query, subject: str) -> dict[str, Any] | CheckResult:
    """The query's plan, or a failure naming the query when EXPLAIN itself fails."""
    try:
        return explain(conn, q_)
    except psycopg.Error as exc:
        return failed(f"{subject}: EXPLAIN failed: {exc.diag.sqlstate} {exc.diag.message_primary or exc}")


def explain_case(project: Project, q_: m.Query) -> Case:
    want = q_.uses_index
    assert want is not None
    subject = f"query {q_.name} (declared to use index {want})"

    def run(conn: psycopg.Connection) -> CheckResult:
        if want not in index_names(project.schema):
            return failed(f"{subject}: no table of schema {project.schema.name} declares an index {want}")
        plan = _explained(conn, q_, subject)
        if isinstance(plan, CheckResult):
            return plan
        used = plan_indexes(plan)
        if want in used:
            return passed(f"{subject}: {plan_summary(plan)}")
        return failed(
            f"{subject}: the planner did not choose {want}; plan: {plan_summary(plan)} "
            f"(estimated cost {plan.get('Total Cost')}). Is the index missing, or does the query no "
            "longer match its columns or predicate?"
        )

    return Case(f"explain:{q_.name}", run, needs="data", description=subject)


def plan_relations(plan: Mapping[str, Any]) -> set[str]:
    """Every relation (table or index's table) a plan reads."""
    return {str(node["Relation Name"]) for node in plan_nodes(plan) if "Relation Name" in node}


def served_by_table_case(project: Project, q_: m.Query) -> Case:
    """A query answered from a small summary table: its plan must read that table and nothing else."""
    table = q_.served_by_table
    assert table is not None
    subject = f"query {q_.name} (declared to be served by table {table} alone)"

    def run(conn: psycopg.Connection) -> CheckResult:
        if table not in {t.name for t in project.schema.tables}:
            return failed(f"{subject}: schema {project.schema.name} declares no table {table}")
        plan = _explained(conn, q_, subject)
        if isinstance(plan, CheckResult):
            return plan
        read = plan_relations(plan)
        if read == {table}:
            return passed(f"{subject}: {plan_summary(plan)}")
        return failed(f"{subject}: the plan reads {sorted(read)}; plan: {plan_summary(plan)}")

    return Case(f"explain:{q_.name}", run, needs="data", description=subject)


def cases(project: Project) -> list[Case]:
    """One case per declared query with ``uses_index`` or ``served_by_table`` (they need data:
    see :func:`run_explain`)."""
    out = []
    for q_ in project.queries:
        if q_.uses_index is not None:
            out.append(explain_case(project, q_))
        elif q_.served_by_table is not None:
            out.append(served_by_table_case(project, q_))
    return out


@dataclass(frozen=True)
class IndexUsage:
    """Which declared index the declared queries' plans use.

    ``unused``: declared indexes (primary keys and UNIQUE excepted: they enforce a constraint)
    that no plan uses. ``declared_by``: index -> queries that declare ``uses_index`` for it.
    """

    used_by: Mapping[str, tuple[str, ...]]
    declared_by: Mapping[str, tuple[str, ...]]
    unused: tuple[str, ...]
    plans: Mapping[str, str]
    """Query name -> plan summary (or the EXPLAIN error)."""

    def describe(self) -> str:
        lines = [f"Indexes no declared query uses ({len(self.unused)}):"]
        for name in self.unused:
            declared = self.declared_by.get(name)
            note = f" (declared by {', '.join(declared)}, but the plan does not use it)" if declared else ""
            lines.append(f"  - {name}{note}")
        return "\n".join(lines)


def index_usage(conn: psycopg.Connection, project: Project) -> IndexUsage:
    """EXPLAIN every declared query (each in a rolled-back savepoint) and report index use."""
    used_by: dict[str, list[str]] = {}
    plans: dict[str, str] = {}
    for q_ in project.queries:
        try:
            with conn.transaction(force_rollback=True):
                plan = explain(conn, q_)
        except psycopg.Error as exc:
            plans[q_.name] = f"EXPLAIN failed: {exc.diag.message_primary or exc}"
            continue
        plans[q_.name] = plan_summary(plan)
        for name in plan_indexes(plan):
            used_by.setdefault(name, []).append(q_.name)
    declared_by: dict[str, list[str]] = {}
    for q_ in project.queries:
        if q_.uses_index:
            declared_by.setdefault(q_.uses_index, []).append(q_.name)
    constraint_indexes = {t.pkey_name for t in project.schema.tables if t.primary_key}
    constraint_indexes |= {u.name for t in project.schema.tables for u in t.uniques}
    unused = tuple(
        name for name in index_names(project.schema) if name not in used_by and name not in constraint_indexes
    )
    return IndexUsage(
        {k: tuple(v) for k, v in used_by.items()},
        {k: tuple(v) for k, v in declared_by.items()},
        unused,
        plans,
    )


LOAD_CASE = Case("explain:load", lambda conn: passed("explain:load: data loaded"), needs="data")
"""Stands for the data load in a report when the load itself fails or has nothing to load."""


def run_explain(
    conn: psycopg.Connection,
    project: Project,
    rows: int = 20_000,
    progress: ProgressCallback | None = None,
    selected: Iterable[Case] | None = None,
) -> Report:
    """Load the synthetic data once (``rows=0``: use the data there), run the EXPLAIN cases, roll back.

    Returns the cases' results and the :class:`IndexUsage` report. A failing load is reported as
    one failed ``explain:load`` result.
    """
    chosen = list(selected) if selected is not None else cases(project)
    results: list[CaseResult] = []
    with conn.transaction(force_rollback=True):
        if rows:
            start = time.perf_counter()
            try:
                with conn.transaction():
                    seconds = load_synthetic_data(conn, project, rows, progress)
            except (psycopg.Error, SyntheticDataCollision) as exc:
                message = f"explain:load: loading {rows} rows of synthetic data failed: {exc}"
                return Report((CaseResult(LOAD_CASE, failed(message), time.perf_counter() - start),))
            if not project.synthetic_data:
                message = "explain:load: the project declares no synthetic_data; EXPLAINed on the data present"
                results.append(CaseResult(LOAD_CASE, warning(message), seconds))
        results += [run_case(case, conn) for case in chosen]
        usage = index_usage(conn, project)
    return Report(tuple(results), usage)


__all__ = [
    "IndexUsage",
    "LoadProgress",
    "ProgressCallback",
    "SyntheticDataCollision",
    "cases",
    "explain",
    "index_names",
    "index_usage",
    "load_synthetic_data",
    "plan_indexes",
    "plan_nodes",
    "plan_summary",
    "print_progress",
    "run_explain",
]
