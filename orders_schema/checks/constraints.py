"""Constraint cases: every declared constraint accepts valid rows and rejects violating ones.

For each table of the head schema:

``row:<table>``
    the derived valid row (:mod:`.rows`) inserts. Every other case of the table starts from it.
``not-null:<table>.<column>``
    NULL in a NOT NULL column (or a primary-key column) fails with 23502 naming the column.
``check:<table>.<constraint>``
    an IN-list CHECK accepts each allowed value and rejects outsiders with 23514 from that very
    constraint: ``''``, each value upper-cased, with a trailing and a leading space, cut short by
    one character, and a random word (outsiders that do not fit the column's length are left out,
    since varchar silently trims trailing spaces and rejects long values with another SQLSTATE).
    Any CHECK also runs its declared ``accepts`` / ``rejects`` example rows.
    A CHECK that is not an IN-list and declares no examples is a **warning** ("no examples
    declared"), not a failure: the structure comparison already proves the constraint exists with
    its declared definition, so nothing is wrong with the database; what is missing is evidence
    that the definition means what its author intended, and that is the declaration's debt.
    ``Report.ok(strict=True)`` turns warnings into failures for projects that want every CHECK
    exemplified.
``fk:<table>.<constraint>``
    a row pointing at an existing parent inserts; one pointing at a missing key fails with 23503.
``unique:<table>.<constraint>``
    (primary keys too) a second row repeating the key fails with 23505 from that constraint.

Each probe runs in its own savepoint, so one failing insert does not abort the others; the case
itself runs in a transaction that :func:`orders_schema.checks.run_case` rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from .. import model as m
from ..project import Project
from ..quoting import literal
from . import Case, CheckResult, failed, verdict, warning
from .rows import TEXT_TYPES, RowError, RowFactory, fits, not_null, split_table_name

SQLSTATE_NAMES = {
    "23502": "not_null_violation",
    "23503": "foreign_key_violation",
    "23505": "unique_violation",
    "23514": "check_violation",
}


@dataclass(frozen=True)
class Probe:
    """One insert and what must happen: ``expect=None`` inserts, else that SQLSTATE from ``constraint``.

    ``column`` (for 23502) is the column PostgreSQL must name.
    """

    description: str
    values: Mapping[str, Any]
    expect: str | None = None
    constraint: str | None = None
    column: str | None = None


def attempt(conn: psycopg.Connection, action: Callable[[], object]) -> psycopg.Error | None:
    """Run ``action`` in a savepoint that is always rolled back; return the error it raised."""
    try:
        with conn.transaction(force_rollback=True):
            action()
    except psycopg.Error as exc:
        return exc
    return None


def describe_error(exc: psycopg.Error) -> str:
    diag = exc.diag
    return f"{diag.sqlstate or type(exc).__name__} {diag.message_primary or exc}"


def judge(probe: Probe, error: psycopg.Error | None) -> str | None:
    """None when the probe behaved as expected, else what went wrong."""
    if probe.expect is None:
        if error is None:
            return None
        return f"{probe.description} was rejected ({describe_error(error)}); expected it to insert"
    want = f"{probe.expect} ({SQLSTATE_NAMES.get(probe.expect, '?')})"
    if error is None:
        return f"{probe.description} was accepted; expected it to fail with {want}"
    diag = error.diag
    if diag.sqlstate != probe.expect:
        return f"{probe.description} failed with {describe_error(error)}; expected {want}"
    if probe.constraint is not None and diag.constraint_name != probe.constraint:
        return (
            f"{probe.description} was rejected by {diag.constraint_name or 'another rule'} "
            f"({describe_error(error)}); expected {probe.constraint} to reject it"
        )
    if probe.column is not None and diag.column_name != probe.column:
        return f"{probe.description} failed on column {diag.column_name}; expected column {probe.column}"
    return None


def _inserter(factory: RowFactory, table: m.Table, values: Mapping[str, Any]) -> Callable[[], object]:
    return lambda: factory.insert(table, values)


def run_probes(
    conn: psycopg.Connection, factory: RowFactory, table: m.Table, probes: list[Probe]
) -> list[str]:
    """Insert every probe in its own savepoint; return the problems."""
    problems = []
    for probe in probes:
        problem = judge(probe, attempt(conn, _inserter(factory, table, probe.values)))
        if problem:
            problems.append(problem)
    return problems


def _show(column: str, value: Any) -> str:
    """``status = 'pending'``: a probe value as SQL would spell it."""
    if value is None or isinstance(value, (str, int, bool, Decimal)):
        return f"{column} = {literal(value)}"
    return f"{column} = {literal(str(value))}"


def _row_text(row: m.Row) -> str:
    return ", ".join(_show(k, v) for k, v in row) or "(no columns)"


class _TableCase:
    """Shared set-up of a table's cases: a factory, the base row, and the object's full name."""

    def __init__(self, project: Project, table: m.Table) -> None:
        self.project = project
        self.table = table

    def start(self, conn: psycopg.Connection) -> tuple[RowFactory, dict[str, Any]] | CheckResult:
        """The factory and a valid base row, or the failure explaining why there is none."""
        factory = RowFactory.for_project(conn, self.project)
        try:
            with conn.transaction():  # parent rows stay (until the case's rollback); probes need them
                base = factory.values(self.table)
        except RowError as exc:
            return failed(f"table {self.qualified}: cannot derive a valid row: {exc}")
        except psycopg.Error as exc:
            return failed(f"table {self.qualified}: inserting a parent row failed: {describe_error(exc)}")
        error = attempt(conn, lambda: factory.insert(self.table, base))
        if error is not None:
            return failed(
                f"table {self.qualified}: the derived valid row ({_row_text(tuple(base.items()))}) was "
                f"rejected: {describe_error(error)}. Declare a ValidRow(table={self.table.name!r}, "
                "values={...}) in the project's behaviours"
            )
        return factory, base

    @property
    def qualified(self) -> str:
        return f"{self.project.schema.name}.{self.table.name}"


def row_case(project: Project, table: m.Table) -> Case:
    tc = _TableCase(project, table)

    def run(conn: psycopg.Connection) -> CheckResult:
        started = tc.start(conn)
        if isinstance(started, CheckResult):
            return started
        _, base = started
        return verdict(f"table {tc.qualified}", [], f"a valid row inserts ({_row_text(tuple(base.items()))})")

    return Case(f"row:{table.name}", run, description=f"a valid row of {tc.qualified} inserts")


def not_null_case(project: Project, table: m.Table, column: m.Column) -> Case:
    tc = _TableCase(project, table)

    def run(conn: psycopg.Connection) -> CheckResult:
        started = tc.start(conn)
        if isinstance(started, CheckResult):
            return started
        factory, base = started
        probe = Probe(f"{column.name} = NULL", {**base, column.name: None}, "23502", column=column.name)
        return verdict(
            f"NOT NULL {tc.qualified}.{column.name}", run_probes(conn, factory, table, [probe]), "NULL rejected"
        )

    return Case(f"not-null:{table.name}.{column.name}", run, description=f"{column.name} rejects NULL")


def outsiders(column: m.Column, allowed: tuple[str, ...], word: str) -> list[str]:
    """Values close to the allowed ones (and a random word) that an IN-list must reject."""
    candidates = ["", word]
    for value in allowed:
        candidates += [value.upper(), value + " ", " " + value, value[:-1]]
    out: list[str] = []
    for value in candidates:
        if value not in allowed and value not in out and fits(column, value):
            out.append(value)
    return out


def check_case(project: Project, table: m.Table, check: m.Check) -> Case:
    tc = _TableCase(project, table)
    in_list = check.allowed_values()

    def run(conn: psycopg.Connection) -> CheckResult:
        started = tc.start(conn)
        if isinstance(started, CheckResult):
            return started
        factory, base = started
        probes: list[Probe] = []
        done: list[str] = []
        if in_list is not None:
            col_name, allowed = in_list
            column = table.column(col_name)
            probes += [Probe(_show(col_name, v), {**base, col_name: v}) for v in allowed]
            if column.type.name in TEXT_TYPES:
                word = f"zq{factory.rng.getrandbits(24):06x}"
                rejected = outsiders(column, allowed, word)
                probes += [Probe(_show(col_name, v), {**base, col_name: v}, "23514", check.name) for v in rejected]
                done.append(f"{len(allowed)} allowed values insert, {len(rejected)} outsiders rejected")
            else:
                done.append(f"{len(allowed)} allowed values insert")
        probes += [Probe(_row_text(row), {**base, **dict(row)}) for row in check.accepts]
        probes += [Probe(_row_text(row), {**base, **dict(row)}, "23514", check.name) for row in check.rejects]
        if check.accepts or check.rejects:
            done.append(f"{len(check.accepts)} accepted and {len(check.rejects)} rejected examples behave")
        subject = f"CHECK {check.name} on {tc.qualified} ({check.expression})"
        if in_list is None and not check.accepts and not check.rejects:
            return warning(
                f"{subject}: no examples declared, so nothing shows that the check accepts valid rows "
                "and rejects invalid ones; declare accepts=(...) and rejects=(...) example rows"
            )
        return verdict(subject, run_probes(conn, factory, table, probes), "; ".join(done))

    return Case(f"check:{table.name}.{check.name}", run, description=check.expression)


def foreign_key_case(project: Project, table: m.Table, fk: m.ForeignKey) -> Case:
    tc = _TableCase(project, table)

    def run(conn: psycopg.Connection) -> CheckResult:
        started = tc.start(conn)
        if isinstance(started, CheckResult):
            return started
        factory, base = started
        subject = f"FOREIGN KEY {fk.name} on {tc.qualified} -> {fk.ref_table}"
        try:
            with conn.transaction():
                present = factory.parent_key(table, fk)
        except (RowError, psycopg.Error) as exc:
            return failed(f"{subject}: cannot find or insert a parent row: {exc}")
        absent = factory.absent_key(table, fk)
        probes = [
            Probe(f"a row referencing an existing parent ({_row_text(tuple(present.items()))})", {**base, **present}),
            Probe(
                f"a row referencing a missing parent ({_row_text(tuple(absent.items()))})",
                {**base, **absent},
                "23503",
                fk.name,
            ),
        ]
        problems = run_probes(conn, factory, table, probes)
        return verdict(subject, problems, "existing parent accepted, missing parent rejected")

    return Case(f"fk:{table.name}.{fk.name}", run, description=f"{fk.columns} -> {fk.ref_table}{fk.ref_columns}")


def unique_case(project: Project, table: m.Table, name: str, columns: tuple[str, ...]) -> Case:
    tc = _TableCase(project, table)

    def run(conn: psycopg.Connection) -> CheckResult:
        started = tc.start(conn)
        if isinstance(started, CheckResult):
            return started
        factory, _ = started
        subject = f"UNIQUE {name} on {tc.qualified} ({', '.join(columns)})"
        try:
            with conn.transaction():  # kept until the case's rollback: the duplicate needs it
                first = factory.insert(table, factory.values(table, require=columns))
                second = factory.values(table, require=columns)
        except (psycopg.Error, RowError) as exc:
            return failed(f"{subject}: the first row did not insert: {exc}")
        key = {c: first[c] for c in columns}
        probe = Probe(f"a second row with the same {_row_text(tuple(key.items()))}", {**second, **key}, "23505", name)
        return verdict(subject, run_probes(conn, factory, table, [probe]), "a duplicate key is rejected")

    return Case(f"unique:{table.name}.{name}", run, description=", ".join(columns))


def cases(project: Project) -> list[Case]:
    """Every constraint case of the head schema, table by table."""
    out: list[Case] = []
    for table in project.schema.tables:
        out.append(row_case(project, table))
        for column in table.columns:
            if not_null(table, column):
                out.append(not_null_case(project, table, column))
        for check in table.checks:
            out.append(check_case(project, table, check))
        for fk in table.foreign_keys:
            out.append(foreign_key_case(project, table, fk))
        if table.primary_key:
            out.append(unique_case(project, table, table.pkey_name, table.primary_key.columns))
        for uq in table.uniques:
            out.append(unique_case(project, table, uq.name, uq.columns))
    return out


__all__ = ["Probe", "attempt", "cases", "judge", "outsiders", "run_probes", "split_table_name"]
