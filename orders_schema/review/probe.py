"""Live traffic during a rehearsal: a probe writer, a probe reader and a lock monitor.

The probes run the project's own declared statements (:attr:`Project.queries`), never a
hard-coded workload: the *writer* cycles through the statements that write or lock rows
(INSERT, UPDATE, DELETE, MERGE, SELECT ... FOR UPDATE/SHARE), the *reader* through the others.
Each probe has its own connection and runs one statement at a time with the statement's
``example`` parameters, inside a transaction it rolls back at once, so a probe can repeat
forever without colliding with its own earlier rows and leaves the data as it found it. The
duration of each execution (lock waits included) is recorded with its start and end.

The monitor is a third connection that samples ``pg_locks`` every ``interval`` seconds: the
relation locks the applying backend holds, and for each probe the lock it waits for and
``pg_blocking_pids``. A wait shorter than the interval may fall between two samples; the
probes' own timings do not (they time every execution).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from orders_schema.declare.model import Query

MODES = (
    "AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
    "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
)
"""PostgreSQL's table lock modes, weakest first."""

_CONFLICTS: dict[str, frozenset[str]] = {
    "AccessShareLock": frozenset(MODES[7:]),
    "RowShareLock": frozenset(MODES[6:]),
    "RowExclusiveLock": frozenset(MODES[4:]),
    "ShareUpdateExclusiveLock": frozenset(MODES[3:]),
    "ShareLock": frozenset((MODES[2], MODES[3], *MODES[5:])),
    "ShareRowExclusiveLock": frozenset(MODES[2:]),
    "ExclusiveLock": frozenset(MODES[1:]),
    "AccessExclusiveLock": frozenset(MODES),
}
"""Which modes each mode conflicts with (the table in PostgreSQL's "Explicit Locking" chapter)."""


def conflicts(a: str, b: str) -> bool:
    """Whether lock modes ``a`` and ``b`` on one relation conflict."""
    return b in _CONFLICTS.get(a, frozenset())


def blocks_writers(mode: str) -> bool:
    """A mode that makes INSERT/UPDATE/DELETE (RowExclusiveLock) wait."""
    return conflicts("RowExclusiveLock", mode)


def blocks_readers(mode: str) -> bool:
    """A mode that makes a plain SELECT (AccessShareLock) wait."""
    return conflicts("AccessShareLock", mode)


_WRITES = re.compile(r"^\s*(?:WITH\b.*?\)\s*)?(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE | re.DOTALL)
_ROW_LOCK = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE|KEY\s+SHARE)\b", re.IGNORECASE)


def is_write(query: Query) -> bool:
    """A statement of the write path: it writes rows or locks them (SELECT ... FOR UPDATE)."""
    return bool(_WRITES.match(query.sql) or _ROW_LOCK.search(query.sql))


@dataclass(frozen=True)
class Execution:
    """One probe statement: when it started and ended (``time.perf_counter``), and its error if any."""

    probe: str
    query: str
    start: float
    end: float
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def overlap(self, start: float, end: float) -> float:
        """How much of this execution fell inside ``[start, end]``."""
        return max(0.0, min(self.end, end) - max(self.start, start))


_KEYED = re.compile(r"\b([A-Za-z_][A-Za-z0-9_$]*)\s*=\s*%\((\w+)\)s")
_TARGET = re.compile(r"\b(?:UPDATE|FROM)\s+(?:ONLY\s+)?([A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)", re.IGNORECASE)


def live_parameters(conn: psycopg.Connection[Any], query: Query) -> dict[str, Any] | None:
    """``query``'s example parameters with those its ``WHERE`` compares to a column (``col =
    %(p)s``) taken from one row of the table it writes or locks; None when it has no such shape or
    the table is empty. A declared example (an id) rarely names a row of the synthetic data, and a
    probe that matches no row takes its table's locks but never waits on a row lock."""
    where = re.search(r"\bWHERE\b", query.sql, re.IGNORECASE)
    target = _TARGET.search(query.sql)
    pairs = _KEYED.findall(query.sql[where.end():]) if where else []
    if target is None or not pairs or not isinstance(query.params, dict):
        return None
    table = sql.Identifier(*target.group(1).split("."))
    columns = sql.SQL(", ").join(sql.Identifier(column) for column, _ in pairs)
    row = conn.execute(sql.SQL("SELECT {} FROM {} LIMIT 1").format(columns, table), prepare=False).fetchone()
    if row is None:
        return None
    return {**query.params, **{param: value for (_, param), value in zip(pairs, row, strict=True)}}


@dataclass(frozen=True)
class Preflight:
    """What the probes will run: ``runnable`` (write statements whose example matches no row get
    the keys of a live row instead: ``on_live_rows``), and what they cannot."""

    runnable: list[Query]
    failed: dict[str, str]
    """Statements that fail before the version, with PostgreSQL's one-line reason."""
    on_live_rows: tuple[str, ...]
    """Write statements probed with a live row's keys (their example matched no row)."""
    rowless: tuple[str, ...]
    """Write statements that still match no row: they take their table's locks, no row lock."""


def preflight(dsn: str, queries: Sequence[Query]) -> Preflight:
    """Run each declared statement once (rolled back): keep those that run, and give a write
    statement that touches no row the keys of a live row (:func:`live_parameters`). A statement
    written for a later version may not run on an earlier one: its reason is kept."""
    ok: list[Query] = []
    failed: dict[str, str] = {}
    live: list[str] = []
    rowless: list[str] = []
    with psycopg.connect(dsn) as conn:
        for query in queries:
            try:
                touched = conn.execute(query.sql.encode(), query.params, prepare=False).rowcount
            except psycopg.Error as exc:
                failed[query.name] = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
                conn.rollback()
                continue
            conn.rollback()
            if not is_write(query) or touched != 0:
                ok.append(query)
                continue
            try:
                params = live_parameters(conn, query)
                if params is not None and conn.execute(query.sql.encode(), params, prepare=False).rowcount > 0:
                    query = query.model_copy(update={"example": tuple(sorted(params.items()))})
                    live.append(query.name)
                else:
                    rowless.append(query.name)
            except psycopg.Error:  # a live row the statement's other parameters do not fit: keep the example
                rowless.append(query.name)
            finally:
                conn.rollback()
            ok.append(query)
    return Preflight(ok, failed, tuple(live), tuple(rowless))


class Probe(threading.Thread):
    """Runs ``queries`` in turn on its own connection until :meth:`stop`; records every execution."""

    def __init__(self, name: str, dsn: str, queries: Sequence[Query]) -> None:
        super().__init__(name=f"review-probe-{name}", daemon=True)
        self.probe = name
        self.queries = tuple(queries)
        self.conn: psycopg.Connection[Any] = psycopg.connect(dsn, application_name=f"orders-schema review {name}")
        self.pid = self.conn.info.backend_pid
        self.executions: list[Execution] = []
        self._stop_event = threading.Event()
        self.failure: BaseException | None = None

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        i = 0
        try:
            while not self._stop_event.is_set() and self.queries:
                query = self.queries[i % len(self.queries)]
                i += 1
                error = None
                start = time.perf_counter()
                try:
                    self.conn.execute(query.sql.encode(), query.params, prepare=False)
                except psycopg.Error as exc:
                    error = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
                end = time.perf_counter()
                self.conn.rollback()
                self.executions.append(Execution(self.probe, query.name, start, end, error))
        except BaseException as exc:  # a lost connection: reported, never a hung rehearsal
            self.failure = exc
        finally:
            self.conn.close()


@dataclass(frozen=True)
class Wait:
    """A sample in which a probe waited for a relation lock."""

    at: float
    probe: str
    relation: str
    mode: str
    blocked_by_applier: bool


@dataclass
class Samples:
    """What the monitor saw: relation locks the applier held (per sample time) and probe waits."""

    applier: list[tuple[float, frozenset[tuple[str, str]]]] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)
    count: int = 0


_LOCKS = """
SELECT l.pid, l.granted, l.mode, n.nspname || '.' || c.relname, c.relkind::text
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation' AND l.pid = ANY(%s)
  AND n.nspname <> ALL(%s)
"""
_BLOCKERS = "SELECT pid, pg_blocking_pids(pid) FROM unnest(%s::int[]) AS pid"
SYSTEM_SCHEMAS = ["pg_catalog", "information_schema", "pg_toast"]


def shown(relkind: str, mode: str) -> bool:
    """Locks worth a DBA's eye: every mode on tables, views and sequences; on an index only modes
    stronger than what ordinary reads and writes take on it."""
    if relkind in ("i", "I"):
        return mode not in MODES[:3]
    return True


class Monitor(threading.Thread):
    """Samples ``pg_locks`` for the applier and the probes every ``interval`` seconds."""

    def __init__(self, dsn: str, applier: int, probes: dict[int, str], interval: float) -> None:
        super().__init__(name="review-monitor", daemon=True)
        self.conn: psycopg.Connection[Any] = psycopg.connect(
            dsn, autocommit=True, application_name="orders-schema review monitor")
        self.applier = applier
        self.probes = probes
        self.interval = interval
        self.samples = Samples()
        self._stop_event = threading.Event()
        self.failure: BaseException | None = None

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        pids = [self.applier, *self.probes]
        try:
            while not self._stop_event.is_set():
                at = time.perf_counter()
                rows = self.conn.execute(_LOCKS, (pids, SYSTEM_SCHEMAS)).fetchall()
                blockers = dict(self.conn.execute(_BLOCKERS, (list(self.probes),)).fetchall())
                held = frozenset((str(r[3]), str(r[2])) for r in rows
                                 if r[0] == self.applier and r[1] and shown(str(r[4]), str(r[2])))
                self.samples.applier.append((at, held))
                for pid, granted, mode, relation, _ in rows:
                    if pid in self.probes and not granted:
                        self.samples.waits.append(Wait(at, self.probes[pid], str(relation), str(mode),
                                                       self.applier in (blockers.get(pid) or [])))
                self.samples.count += 1
                self._stop_event.wait(max(0.0, self.interval - (time.perf_counter() - at)))
        except BaseException as exc:
            self.failure = exc
        finally:
            self.conn.close()
