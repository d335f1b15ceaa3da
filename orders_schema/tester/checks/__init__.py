"""The behaviour half of the migration tester: checks derived from a project's declarations.

Each check is a :class:`Case`: a name (``check:orders.orders_status_check``), what database it
needs, and a function that runs it on a connection and returns a :class:`CheckResult`. The
cases of a project come from :func:`cases`; nothing here knows about pytest (the plugin calls
:func:`run_case` per case), and nothing is specific to WallTrack.

What a case needs (``Case.needs``):

``"rollback"``
    a connection to a database at head. :func:`run_case` runs the case inside a transaction (a
    savepoint if one is already open) that it rolls back, so these cases can run against a live,
    production-like database and leave nothing behind.
``"data"``
    the same, on a database holding realistic data (EXPLAIN cases): load it with
    :func:`orders_schema.tester.data.load_synthetic_data` in the same rolled-back transaction, or
    point at a database that already has real data. :func:`orders_schema.tester.checks.explain.run_explain`
    does both steps.
``"commits"``
    a connection to a database at head that keeps commits, not inside a transaction; the case
    commits and deletes the rows it inserted afterwards (other side effects of the table's
    triggers remain). Not for production.
``"empty"``
    a connection to an empty, throwaway database (migration cases apply the version files to it).

Modules: :mod:`.rows` (a valid row per table), :mod:`.constraints`, :mod:`.triggers`,
:mod:`.access` (per role, object and command), :mod:`.explain`, :mod:`.migrations`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import psycopg

if TYPE_CHECKING:
    from orders_schema.declare.project import Project
    from orders_schema.tester.checks.explain import IndexUsage
    from orders_schema.tester.data import ProgressCallback

Outcome = Literal["passed", "failed", "warning", "skipped"]
Need = Literal["rollback", "data", "commits", "empty"]
NEEDS: tuple[Need, ...] = ("rollback", "data", "commits", "empty")


@dataclass(frozen=True)
class CheckResult:
    """What a case found. ``message`` names the object, what was expected and what happened."""

    outcome: Outcome
    message: str

    @property
    def ok(self) -> bool:
        """False only for a failure; a warning or a skip does not fail a run (see :meth:`Report.ok`)."""
        return self.outcome != "failed"


def passed(message: str) -> CheckResult:
    return CheckResult("passed", message)


def failed(message: str) -> CheckResult:
    return CheckResult("failed", message)


def warning(message: str) -> CheckResult:
    return CheckResult("warning", message)


def skipped(message: str) -> CheckResult:
    return CheckResult("skipped", message)


def verdict(subject: str, problems: Sequence[str], done: str) -> CheckResult:
    """``failed`` listing ``problems`` (one per line) under ``subject``, else ``passed(done)``."""
    if problems:
        return failed(f"{subject}:\n" + "\n".join(f"  - {p}" for p in problems))
    return passed(f"{subject}: {done}")


@dataclass(frozen=True)
class Case:
    """One named check. ``run`` gets a connection of the kind ``needs`` says (see the module doc)."""

    id: str
    run: Callable[[psycopg.Connection], CheckResult] = field(repr=False, compare=False)
    needs: Need = "rollback"
    description: str = ""


@dataclass(frozen=True)
class CaseResult:
    case: Case
    result: CheckResult
    seconds: float

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome

    @property
    def message(self) -> str:
        return self.result.message

    def __str__(self) -> str:
        return f"{self.outcome.upper():7} {self.id} ({self.seconds * 1000:.0f} ms)\n  {self.message}"


@dataclass(frozen=True)
class Report:
    """The results of a run, in order, plus the index-usage report when EXPLAIN cases ran."""

    results: tuple[CaseResult, ...]
    index_usage: IndexUsage | None = None

    def ok(self, strict: bool = False) -> bool:
        """No failure (with ``strict``, no warning either)."""
        bad: tuple[Outcome, ...] = ("failed", "warning") if strict else ("failed",)
        return not any(r.outcome in bad for r in self.results)

    def with_outcome(self, *outcomes: Outcome) -> list[CaseResult]:
        return [r for r in self.results if r.outcome in outcomes]

    @property
    def failures(self) -> list[CaseResult]:
        return self.with_outcome("failed")

    def counts(self) -> dict[Outcome, int]:
        out: dict[Outcome, int] = {"passed": 0, "failed": 0, "warning": 0, "skipped": 0}
        for r in self.results:
            out[r.outcome] += 1
        return out

    def summary(self) -> str:
        """Every non-passing result in full, the unused indexes, then one count line."""
        lines = [str(r) for r in self.results if r.outcome != "passed"]
        if self.index_usage is not None and self.index_usage.unused:
            lines.append(self.index_usage.describe())
        counts = self.counts()
        seconds = sum(r.seconds for r in self.results)
        lines.append(", ".join(f"{n} {k}" for k, n in counts.items() if n) + f" in {seconds:.2f} s")
        return "\n".join(lines)

    def __add__(self, other: Report) -> Report:
        return Report(self.results + other.results, other.index_usage or self.index_usage)


def run_case(case: Case, conn: psycopg.Connection) -> CaseResult:
    """Run one case; ``rollback`` and ``data`` cases inside a transaction that is rolled back.

    An exception the case did not expect becomes a failure naming the case, so one broken case
    never hides the others.
    """
    start = time.perf_counter()
    try:
        if case.needs in ("rollback", "data"):
            with conn.transaction(force_rollback=True):
                result = case.run(conn)
        else:
            result = case.run(conn)
    except Exception as exc:  # a check must report, not crash the run
        result = failed(f"{case.id}: the check itself raised {type(exc).__name__}: {exc}")
        if case.needs in ("commits", "empty") and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()  # leave the connection usable; what the case committed stays committed
    return CaseResult(case, result, time.perf_counter() - start)


Connect = Callable[[Need], AbstractContextManager["psycopg.Connection | None"]]
"""Given what a case needs, a context manager yielding a connection of that kind (None: not available)."""


def run_on(case: Case, connect: Connect) -> CaseResult:
    """The one dispatch on ``Case.needs``: run ``case`` on the connection ``connect`` gives for its
    need, or report it skipped (naming what it needs) when ``connect`` yields None. Used by
    :func:`run_project` (verify) and by the pytest plugin."""
    with connect(case.needs) as conn:
        if conn is None:
            return CaseResult(case, skipped(f"{case.id}: needs {_NEED_TEXT[case.needs]}"), 0.0)
        return run_case(case, conn)


def run_cases(conn: psycopg.Connection, selected: Iterable[Case]) -> Report:
    """Run the ``rollback`` and ``data`` cases on ``conn``; the others are reported as skipped."""
    out: list[CaseResult] = []
    for case in selected:
        if case.needs in ("rollback", "data"):
            out.append(run_case(case, conn))
        else:
            out.append(CaseResult(case, skipped(f"{case.id}: needs {_NEED_TEXT[case.needs]}"), 0.0))
    return Report(tuple(out))


_NEED_TEXT: dict[Need, str] = {
    "rollback": "a database at head",
    "data": "a database at head holding realistic data",
    "commits": "a database at head that keeps commits (run_project(..., commits=True))",
    "empty": "an empty database (run_project(..., empty_database=...))",
}


def cases(project: Project) -> list[Case]:
    """Every behaviour case of a project: constraints, triggers, access, EXPLAIN, migrations, in that order."""
    from orders_schema.tester.checks import access, constraints, explain, migrations, triggers

    return [
        *constraints.cases(project),
        *triggers.cases(project),
        *access.cases(project),
        *explain.cases(project),
        *migrations.cases(project),
    ]


def run_project(
    project: Project,
    dsn: str,
    *,
    empty_database: Callable[[], AbstractContextManager[str]] | None = None,
    commits: bool = False,
    rows: int = 20_000,
    progress: ProgressCallback | None = None,
    select: Callable[[Case], bool] | None = None,
) -> Report:
    """Run every case of ``project`` against the database at ``dsn`` (at head).

    ``rollback`` cases run in rolled-back transactions; ``data`` cases run after loading the
    project's synthetic data (``rows`` rows of the main table, ``0`` to use the data already
    there) in one transaction that is rolled back too. ``commits`` cases run only when
    ``commits`` is true. ``empty`` cases run when ``empty_database`` is given: a callable
    returning a context manager that yields the DSN of a new empty database and drops it on exit.
    ``select`` keeps only some cases.
    """
    from orders_schema.tester.checks import explain

    chosen = [c for c in cases(project) if select is None or select(c)]
    by_need: dict[Need, list[Case]] = {need: [c for c in chosen if c.needs == need] for need in NEEDS}
    results: list[CaseResult] = []
    usage: IndexUsage | None = None
    with psycopg.connect(dsn) as conn:
        results += run_cases(conn, by_need["rollback"]).results
        if by_need["data"]:
            report = explain.run_explain(conn, project, rows=rows, progress=progress, selected=by_need["data"])
            results += report.results
            usage = report.index_usage

    @contextlib.contextmanager
    def connect(need: Need) -> Iterator[psycopg.Connection | None]:
        if need == "commits" and commits:
            with psycopg.connect(dsn) as conn:
                yield conn
        elif need == "empty" and empty_database is not None:
            with empty_database() as empty_dsn, psycopg.connect(empty_dsn) as conn:
                yield conn
        else:
            yield None

    results += [run_on(case, connect) for case in (*by_need["commits"], *by_need["empty"])]
    return Report(tuple(results), usage)


__all__ = [
    "NEEDS",
    "Case",
    "CaseResult",
    "CheckResult",
    "Connect",
    "Need",
    "Outcome",
    "Report",
    "cases",
    "failed",
    "passed",
    "run_case",
    "run_cases",
    "run_on",
    "run_project",
    "skipped",
    "verdict",
    "warning",
]
