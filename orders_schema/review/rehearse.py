"""Rehearse one version at size and measure what it does to live traffic.

:func:`rehearse` makes a scratch database on a server it is given, brings it to version N-1 with
the project's own version files (apply's file applier, its transaction rule included), fills it
with the project's synthetic data at ``rows`` rows, runs ANALYZE, then applies version N statement
by statement exactly as ``apply`` splits and runs it, while the probes of :mod:`.probe` run the
project's declared statements on other connections and the monitor samples ``pg_locks``.

Measured per statement: wall time; the relation locks it took (read from ``pg_locks``: the
applying connection reads its own rows after each statement, one catalogue query inside the
version's transaction, and the monitor's samples add the locks held only while a statement ran,
as in a no-transaction file); the rows the server's command tag reports; the tables and indexes
it rewrote (their ``relfilenode`` changed); and, per probe, the longest part of one probe
execution that fell inside the statement. Relations the version itself creates are left out:
nobody else can see them before it commits.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from orders_schema.declare.project import Project, synthetic_parameters
from orders_schema.live.apply import HISTORY_SCHEMA, ApplyError, apply_file
from orders_schema.migrate.lint import Hazard, lint_text
from orders_schema.review.probe import (
    SYSTEM_SCHEMAS,
    Execution,
    Monitor,
    Probe,
    Samples,
    conflicts,
    is_write,
    preflight,
    shown,
)
from orders_schema.store.files import VersionFile, unknown_version, version_files
from orders_schema.store.statements import split_tokens
from orders_schema.tester.server import scratch_database

Progress = Callable[[str, float], None]
"""``progress(step, fraction)``: what the rehearsal is doing and how far the load is (0..1)."""

PROBES = ("writer", "reader")


class ReviewInputError(ValueError):
    """The version cannot be rehearsed as asked (unknown, the first one, a project without data)."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _quiet(step: str, fraction: float) -> None:
    """The default progress callback: say nothing."""


@dataclass(frozen=True)
class StatementReview:
    """One statement of the version as it ran, with what was measured while it ran."""

    number: int
    line: int
    sql: str
    seconds: float
    took: tuple[tuple[str, str], ...]
    """(relation, lock mode) pairs first seen held by the applier during this statement."""
    command: str | None
    """The server's command tag (``INSERT 0 12``, ``ALTER TABLE``)."""
    rows: int | None
    """Rows the server says the statement wrote or returned (INSERT, UPDATE, DELETE, SELECT, MERGE)."""
    rewrote: tuple[str, ...]
    stall: dict[str, float | None]
    """Per probe: the longest part of one probe execution inside this statement (None: no probe)."""
    hazards: tuple[Hazard, ...]
    error: str | None = None

    @property
    def first_line(self) -> str:
        return " ".join(self.sql.split())


@dataclass(frozen=True)
class Stall:
    """The longest execution of one probe while the version was applied, and why it waited."""

    probe: str
    query: str
    seconds: float
    waited_for: str | None
    """``mode on relation`` the probe was seen waiting for, when a sample caught it waiting."""
    taken_by: int | None
    """The statement that first took a lock conflicting with that wait."""
    during: int | None
    """The statement that overlapped the execution the most."""


@dataclass(frozen=True)
class Size:
    relation: str
    kind: str
    before: int | None
    after: int | None


@dataclass
class VersionReview:
    """Everything measured while rehearsing one version."""

    file: VersionFile
    transactional: bool
    rows: int
    sized_by: str
    server: str
    interval: float
    statements: list[StatementReview] = field(default_factory=list)
    commit_seconds: float | None = None
    commit_stall: dict[str, float | None] = field(default_factory=dict)
    apply_seconds: float = 0.0
    observe_seconds: float = 0.0
    """Of ``apply_seconds``, the time the applier spent reading its own pg_locks rows between statements."""
    load_seconds: float = 0.0
    samples: int = 0
    probes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_probed: dict[str, str] = field(default_factory=dict)
    on_live_rows: tuple[str, ...] = ()
    """Write statements probed with a live row's keys: their declared example matches no row."""
    rowless: tuple[str, ...] = ()
    """Write statements that match no row even so: they wait on table locks, never on row locks."""
    baseline: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    """Per probe, before the version ran: (median, max, executions) in seconds."""
    executions: dict[str, int] = field(default_factory=dict)
    probe_errors: dict[str, int] = field(default_factory=dict)
    worst: dict[str, Stall | None] = field(default_factory=dict)
    sizes: list[Size] = field(default_factory=list)
    error: str | None = None

    def worst_stall(self) -> Stall | None:
        found = [s for s in self.worst.values() if s is not None]
        return max(found, key=lambda s: s.seconds) if found else None

    def exceeds(self, max_stall_ms: float) -> bool:
        worst = self.worst_stall()
        return worst is not None and worst.seconds * 1000 > max_stall_ms


def target_file(project: Project, number: int) -> tuple[VersionFile, list[VersionFile]]:
    """Version ``number``'s file and the files before it; :class:`ReviewInputError` when it is
    unknown or has nothing before it."""
    files = version_files(project.schema_dir)
    chosen = [f for f in files if f.number == number]
    if not chosen:
        raise ReviewInputError(unknown_version(project.schema_dir, number, "version"))
    earlier = [f for f in files if f.number < number]
    if not earlier:
        raise ReviewInputError(
            f"V{number} is the first version of {project.schema_dir}/: there is no version N-1 to rehearse it "
            "from (review a later version)")
    return chosen[0], earlier


def rows_like(dsn: str, project: Project) -> tuple[int, str]:
    """Rows of the project's largest table in a real database, from ``pg_class.reltuples`` (the
    planner's estimate, kept by ANALYZE and autovacuum). The connection is read-only: nothing is
    written there."""
    schemas = sorted({project.schema.name})
    try:
        with psycopg.connect(dsn, connect_timeout=10, options="-c default_transaction_read_only=on") as conn:
            found = conn.execute(
                "SELECT n.nspname || '.' || c.relname, c.reltuples::bigint FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
                "AND n.nspname = ANY(%s) ORDER BY c.reltuples DESC, 1 LIMIT 1", (schemas,)).fetchone()
            conn.rollback()
    except psycopg.Error as exc:
        raise ReviewInputError(f"--like-dsn: cannot read it: {str(exc).strip().splitlines()[0]}") from None
    if found is None:
        raise ReviewInputError(f"--like-dsn: schema {', '.join(schemas)} has no table there")
    name, count = str(found[0]), int(found[1])
    if count < 0:
        raise ReviewInputError(f"--like-dsn: {name} was never analyzed (reltuples is -1); run ANALYZE there or "
                               "give --rows")
    return count, f"{name} in --like-dsn has about {count:,} rows (pg_class.reltuples)"


# ---------------------------------------------------------------------------------------------
# building version N-1 with data
# ---------------------------------------------------------------------------------------------


def _build(dsn: str, earlier: list[VersionFile]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for file in earlier:
            apply_file(conn, file)


def _load(dsn: str, project: Project, rows: int, progress: Progress) -> float:
    started = time.perf_counter()
    params = synthetic_parameters(rows)
    steps = project.synthetic_data
    with psycopg.connect(dsn) as conn:
        for i, statement in enumerate(steps):
            progress(f"loading {rows:,} rows: step {i + 1}/{len(steps)}", i / max(1, len(steps)))
            conn.execute(statement.encode() if "%(" not in statement else statement, params)
        conn.commit()
    progress(f"loaded {rows:,} rows", 1.0)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return time.perf_counter() - started


_EXISTING = """
SELECT c.oid::bigint, n.nspname || '.' || c.relname, c.relkind::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname <> ALL(%s)
"""
_OWN = """
SELECT relation::bigint, mode FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted AND database IS NOT NULL
UNION ALL
SELECT oid::bigint, relfilenode::text FROM pg_class WHERE oid = ANY(%s::oid[]) AND relkind IN ('r', 'm', 'i')
"""
_SIZES = """
SELECT n.nspname || '.' || c.relname, CASE WHEN c.relkind IN ('i', 'I') THEN 'index' ELSE 'table' END,
       CASE WHEN c.relkind IN ('i', 'I') THEN pg_relation_size(c.oid) ELSE pg_total_relation_size(c.oid) END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm', 'i') AND n.nspname <> ALL(%s) ORDER BY 2 DESC, 1
"""


def _own_state(conn: psycopg.Connection[Any], relations: dict[int, tuple[str, str]],
               ) -> tuple[set[tuple[str, str]], dict[str, str]]:
    """The relation locks this connection holds and the storage files (relfilenode) of the
    relations that existed before the version, in one short round trip (names are resolved from
    ``relations``, read once before the version ran)."""
    rows = conn.execute(_OWN, (list(relations),)).fetchall()
    locks: set[tuple[str, str]] = set()
    files: dict[str, str] = {}
    for oid, value in rows:
        known = relations.get(int(oid))
        if known is None:  # a relation the version created: nobody else sees it before COMMIT
            continue
        name, relkind = known
        if str(value).isdigit():
            files[name] = str(value)
        elif shown(relkind, str(value)):
            locks.add((name, str(value)))
    return locks, files


def _sizes(dsn: str) -> dict[str, tuple[str, int]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(_SIZES, ([*SYSTEM_SCHEMAS, HISTORY_SCHEMA],)).fetchall()
    return {str(r[0]): (str(r[1]), int(r[2])) for r in rows}


# ---------------------------------------------------------------------------------------------
# applying version N under observation
# ---------------------------------------------------------------------------------------------


def _stall(executions: list[Execution], start: float, end: float) -> float | None:
    if not executions:
        return None
    return max((e.overlap(start, end) for e in executions), default=0.0)


def _apply_observed(conn: psycopg.Connection[Any], review: VersionReview, known: dict[int, tuple[str, str]],
                    existing: set[str],
                    monitor: Samples, probes: dict[str, Probe]) -> list[tuple[float, float]]:
    """Run the file's statements as apply does; return each statement's (start, end)."""
    file = review.file
    text = file.text
    statements = split_tokens(text)
    hazards = [x.hazards for x in lint_text(text)]
    windows: list[tuple[float, float]] = []
    held, files = _own_state(conn, known)
    results: list[tuple[int, Any]] = []

    def observe() -> tuple[set[tuple[str, str]], dict[str, str]]:
        started = time.perf_counter()
        try:
            return _own_state(conn, known)
        finally:
            review.observe_seconds += time.perf_counter() - started

    def run_all() -> None:
        nonlocal held, files
        for i, stmt in enumerate(statements, 1):
            start = time.perf_counter()
            error = None
            command = rows = None
            try:
                cur = conn.execute(stmt.sql.encode())
                command = cur.statusmessage
                rows = cur.rowcount if command and command.split()[0] in (
                    "INSERT", "UPDATE", "DELETE", "SELECT", "MERGE", "COPY") and cur.rowcount >= 0 else None
            except psycopg.Error as exc:
                error = ApplyError(file.path.name, exc, f"statement {i}")
            end = time.perf_counter()
            windows.append((start, end))
            now_held, now_files = observe() if error is None else (held, files)
            rewrote = tuple(sorted(r for r, node in now_files.items() if files.get(r, node) != node))
            results.append((i, (stmt, start, end, held, now_held - held, command, rows, rewrote, error)))
            held, files = now_held, now_files
            if error is not None:
                raise error

    commit: tuple[float, float] | None = None
    try:
        if file.transactional:
            with conn.transaction():
                run_all()
                commit_start = time.perf_counter()
            commit = (commit_start, time.perf_counter())
        else:
            run_all()
    except ApplyError as exc:
        review.error = str(exc)
    except psycopg.Error as exc:  # the COMMIT itself
        review.error = f"{file.path.name}: COMMIT failed: {str(exc).strip().splitlines()[0]}"
    for i, (stmt, start, end, held_before, took, command, rows, rewrote, error) in results:
        sampled = {pair for at, pairs in monitor.applier if start <= at <= end for pair in pairs}
        review.statements.append(StatementReview(
            number=i,
            line=stmt.tokens[0].line if stmt.tokens else 0,
            sql=stmt.sql,
            seconds=end - start,
            took=tuple(sorted(p for p in took | (sampled - held_before) if p[0] in existing)),
            command=command,
            rows=rows,
            rewrote=rewrote,
            stall={},
            hazards=hazards[i - 1] if i - 1 < len(hazards) else (),
            error=str(error) if error else None,
        ))
    if commit is not None:
        review.commit_seconds = commit[1] - commit[0]
        windows.append(commit)
    return windows


def _measure_stalls(review: VersionReview, probes: dict[str, Probe], windows: list[tuple[float, float]]) -> None:
    """Once the probes have stopped (an execution is recorded when it ends): each statement's stalls."""
    def stalls(start: float, end: float) -> dict[str, float | None]:
        return {name: _stall(p.executions, start, end) if p.queries else None for name, p in probes.items()}

    review.statements = [replace(s, stall=stalls(*w)) for s, w in zip(review.statements, windows, strict=False)]
    if review.commit_seconds is not None:
        review.commit_stall = stalls(*windows[-1])


def _worst(review: VersionReview, probe: Probe, waits: Samples, windows: list[tuple[float, float]],
           start: float, end: float) -> Stall | None:
    during = [e for e in probe.executions if e.overlap(start, end) > 0]
    if not during:
        return None
    worst = max(during, key=lambda e: e.seconds)
    seen = [w for w in waits.waits if w.probe == probe.probe and worst.start <= w.at <= worst.end]
    waited_for = taken_by = None
    if seen:
        wait = seen[0]
        waited_for = f"{wait.mode} on {wait.relation}"
        for s in review.statements:
            if any(rel == wait.relation and conflicts(wait.mode, mode) for rel, mode in s.took):
                taken_by = s.number
                break
    overlaps = [(worst.overlap(a, b), i) for i, (a, b) in enumerate(windows[:len(review.statements)], 1)]
    best = max(overlaps, default=(0.0, 0))
    return Stall(probe.probe, worst.query, worst.seconds, waited_for, taken_by, best[1] if best[0] > 0 else None)


def rehearse(
    project: Project,
    number: int,
    server_dsn: str,
    rows: int,
    *,
    sized_by: str | None = None,
    interval: float = 0.01,
    warmup: float = 1.0,
    progress: Progress = _quiet,
) -> VersionReview:
    """Rehearse version ``number`` of ``project`` in a scratch database on the server of
    ``server_dsn`` (dropped afterwards) at ``rows`` rows of its synthetic data.

    ``interval``: seconds between two ``pg_locks`` samples. ``warmup``: seconds the probes run
    before the version does (their latency then is the baseline printed beside the stalls).
    Raises :class:`ReviewInputError` for a version that cannot be rehearsed; a version that fails
    is reported in :attr:`VersionReview.error`.
    """
    file, earlier = target_file(project, number)
    if rows and not project.synthetic_data:
        raise ReviewInputError("the project declares no synthetic_data: rehearse with --rows 0 or declare it")
    with psycopg.connect(server_dsn) as conn:
        server = f"PostgreSQL {conn.info.server_version // 10000}"
    review = VersionReview(file=file, transactional=file.transactional, rows=rows,
                           sized_by=sized_by or f"--rows {rows:,}", server=server, interval=interval)
    with scratch_database(server_dsn, prefix="orders_schema_review") as dsn:
        progress(f"building V{earlier[-1].number} (the version before V{number})", 0.0)
        try:
            _build(dsn, earlier)
        except ApplyError as exc:
            raise ReviewInputError(f"cannot build V{earlier[-1].number}: {exc}") from None
        if rows:
            try:
                review.load_seconds = _load(dsn, project, rows, progress)
            except psycopg.Error as exc:
                raise ReviewInputError(f"the project's synthetic data does not load at V{earlier[-1].number}: "
                                       f"{str(exc).strip().splitlines()[0]}") from None
        before = _sizes(dsn)
        checked = preflight(dsn, project.queries)
        runnable, review.not_probed = checked.runnable, checked.failed
        review.on_live_rows, review.rowless = checked.on_live_rows, checked.rowless
        chosen = {"writer": [q for q in runnable if is_write(q)], "reader": [q for q in runnable if not is_write(q)]}
        review.probes = {name: tuple(q.name for q in qs) for name, qs in chosen.items()}
        with psycopg.connect(dsn, autocommit=True, application_name="orders-schema review applier") as conn:
            relations = conn.execute(_EXISTING, (SYSTEM_SCHEMAS,)).fetchall()
            known = {int(r[0]): (str(r[1]), str(r[2])) for r in relations}
            existing = {name for name, _ in known.values()}
            probes = {name: Probe(name, dsn, qs) for name, qs in chosen.items()}
            monitor = Monitor(dsn, conn.info.backend_pid, {p.pid: name for name, p in probes.items()}, interval)
            progress(f"applying V{number} while the probes run", 1.0)
            threads: list[Probe | Monitor] = [*probes.values(), monitor]
            for thread in threads:
                thread.start()
            try:
                warm = time.perf_counter()
                time.sleep(warmup)
                start = time.perf_counter()
                windows = _apply_observed(conn, review, known, existing, monitor.samples, probes)
                end = time.perf_counter()
                time.sleep(min(0.2, warmup))
            finally:
                for thread in threads:
                    thread.stop()
                for thread in threads:
                    thread.join()
        for thread in threads:  # a lost connection: the figures are incomplete, say so (exit 1)
            if thread.failure is not None and review.error is None:
                review.error = f"the {thread.name} thread stopped early: {_first_line(thread.failure)}"
        review.apply_seconds = end - start
        _measure_stalls(review, probes, windows)
        review.samples = monitor.samples.count
        for name, probe in probes.items():
            calm = [e.seconds for e in probe.executions if e.start >= warm and e.end < start]
            if calm:
                review.baseline[name] = (statistics.median(calm), max(calm), len(calm))
            review.executions[name] = sum(1 for e in probe.executions if e.overlap(start, end) > 0)
            review.probe_errors[name] = sum(1 for e in probe.executions if e.error and e.start >= start)
            review.worst[name] = _worst(review, probe, monitor.samples, windows, start, end)
        after = _sizes(dsn)
        existed = set(before)
        review.sizes = [
            Size(rel, (before.get(rel) or after[rel])[0], before[rel][1] if rel in existed else None,
                 after[rel][1] if rel in after else None)
            for rel in [*before, *(r for r in after if r not in existed)]
        ]
    return review
