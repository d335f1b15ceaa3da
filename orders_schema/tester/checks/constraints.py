"""Constraint cases: every declared constraint accepts valid rows and rejects violating ones.

For each table of the head schema:

``row:<table>``
    the derived valid row (:mod:`.rows`) inserts. Every other case of the table starts from it.
``not-null:<table>.<column>``
    NULL in a NOT NULL column (or a primary-key column) fails with 23502 naming the column. A
    column inherited from a declared parent (``INHERITS``) is probed too. NULL in a partition key
    finds no partition (23514) before NOT NULL is checked: that probe goes to the partition that
    holds the valid row, which enforces its parent's NOT NULL.
``check:<table>.<constraint>``
    an IN-list CHECK accepts each allowed value and rejects outsiders with 23514 from that very
    constraint: ``''``, each value upper-cased, with a trailing and a leading space, cut short by
    one character, and a random word (outsiders that do not fit the column's length are left out,
    since varchar silently trims trailing spaces and rejects long values with another SQLSTATE).
    Any CHECK also runs its declared ``accepts`` / ``rejects`` example rows.
    PostgreSQL evaluates a table's CHECKs in name order, so a probe row may be stopped by another
    CHECK tying the probed column to others (``order_type = 'exit'`` needs ``side = 'sell'``). The
    row is then settled (:meth:`~orders_schema.tester.checks.rows.RowFactory.settle`): one of the other
    CHECK's ``accepts`` examples that agrees with the probed values is laid over it. An outsider
    that another *declared* CHECK rejects counts as rejected (it cannot get in; whether this very
    constraint exists is the structure comparison's business). An allowed value that no declared
    example lets through is reported as a **warning** naming the example to declare: nothing shows
    the database is wrong, but nothing shows the value inserts either.
    A CHECK that is not an IN-list and declares no examples is a **warning** ("no examples
    declared"), not a failure: the structure comparison already proves the constraint exists with
    its declared definition, so nothing is wrong with the database; what is missing is evidence
    that the definition means what its author intended, and that is the declaration's debt.
    ``Report.ok(strict=True)`` turns warnings into failures for projects that want every CHECK
    exemplified.
``fk:<table>.<constraint>``
    a row pointing at an existing parent inserts; one pointing at a missing key fails with 23503.
``unique:<table>.<constraint>``
    (primary keys too) a second row repeating the key fails with 23505 from that constraint. On a
    partitioned table the partition's own index raises it: an index attached to the constraint's
    (``pg_partition_ancestors``) counts as the constraint.

Each probe runs in its own savepoint, so one failing insert does not abort the others; the case
itself runs in a transaction that :func:`orders_schema.tester.checks.run_case` rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare.project import Project
from orders_schema.declare.quoting import literal
from orders_schema.tester.checks import Case, CheckResult, failed, passed, verdict, warning
from orders_schema.tester.checks.rows import (
    TEXT_TYPES,
    RowError,
    RowFactory,
    RowRejected,
    fits,
    inherited,
    not_null,
)

SQLSTATE_NAMES = {
    "23502": "not_null_violation",
    "23503": "foreign_key_violation",
    "23505": "unique_violation",
    "23514": "check_violation",
}


@dataclass(frozen=True)
class Probe:
    """One insert and what must happen: ``expect=None`` inserts, else that SQLSTATE from ``constraint``.

    ``fixed``: the columns the probe is about; settling the row for other CHECKs never changes
    them. ``column`` (for 23502) is the column PostgreSQL must name.
    """

    description: str
    values: Mapping[str, Any]
    fixed: frozenset[str]
    expect: str | None = None
    constraint: str | None = None
    column: str | None = None


@dataclass(frozen=True)
class Finding:
    """What one probe showed: ``problem`` fails the case, ``unproven`` makes it a warning."""

    problem: str | None = None
    unproven: str | None = None
    by_other: bool = False
    """A rejection that another declared CHECK made first."""


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


def judge(
    probe: Probe, error: psycopg.Error | None, declared_checks: Collection[str] = (), rejected_by: str | None = None
) -> Finding:
    """What the probe's outcome means, given the table's declared CHECK names. ``rejected_by``: the
    declared constraint the error's own constraint stands for (a partition's index attached to it)."""
    if error is None:
        if probe.expect is None:
            return Finding()
        want = f"{probe.expect} ({SQLSTATE_NAMES.get(probe.expect, '?')})"
        return Finding(f"{probe.description} was accepted; expected it to fail with {want}")
    diag = error.diag
    other = diag.constraint_name if diag.sqlstate == "23514" else None
    if other == probe.constraint or other not in declared_checks:
        other = None  # stopped by the constraint under test, or by something the declarations lack
    if probe.expect is None:
        if other is not None and probe.constraint is not None:
            return Finding(
                unproven=f"{probe.description}: no row with it gets past {other}; declare an accepts example "
                f"of {other} that agrees with it so the tester can build one"
            )
        return Finding(f"{probe.description} was rejected ({describe_error(error)}); expected it to insert")
    want = f"{probe.expect} ({SQLSTATE_NAMES.get(probe.expect, '?')})"
    if diag.sqlstate != probe.expect:
        return Finding(f"{probe.description} failed with {describe_error(error)}; expected {want}")
    if other is not None:
        return Finding(by_other=True)
    if probe.constraint is not None and (rejected_by or diag.constraint_name) != probe.constraint:
        return Finding(
            f"{probe.description} was rejected by {diag.constraint_name or 'another rule'} "
            f"({describe_error(error)}); expected {probe.constraint} to reject it"
        )
    if probe.column is not None and diag.column_name != probe.column:
        return Finding(f"{probe.description} failed on column {diag.column_name}; expected column {probe.column}")
    return Finding()


def run_probes(
    conn: psycopg.Connection, factory: RowFactory, table: m.Table, probes: list[Probe], target: str | None = None
) -> list[Finding]:
    """Try every probe (settled for CHECKs other than ``target``) in rolled-back savepoints."""
    declared = {c.name for c in factory.inherited(table).checks}
    findings = []
    for probe in probes:
        _, error = factory.settle(table, probe.values, probe.fixed, target)
        rejected_by = None
        if error is not None and probe.constraint is not None and error.diag.constraint_name != probe.constraint \
                and error.diag.sqlstate == probe.expect == "23505":
            rejected_by = attached_index(conn, error, factory.schema.name, probe.constraint)
        findings.append(judge(probe, error, declared, rejected_by))
    return findings


ATTACHED_INDEX = """
SELECT EXISTS (
    SELECT 1
    FROM pg_catalog.pg_class i
    JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace
    CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(i.oid) a
    JOIN pg_catalog.pg_class p ON p.oid = a.relid
    JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
    WHERE n.nspname = %s AND i.relname = %s AND i.relkind IN ('i', 'I') AND pn.nspname = %s AND p.relname = %s
)
"""


def attached_index(conn: psycopg.Connection, error: psycopg.Error, schema: str, constraint: str) -> str | None:
    """``constraint`` when the index that raised ``error`` (a partition's) is attached to the index
    of ``schema``'s ``constraint`` (a partitioned table's primary key or unique constraint, whose
    partitions each enforce it with an index of their own); else None."""
    diag = error.diag
    if not diag.constraint_name or not diag.schema_name:
        return None
    found = conn.execute(ATTACHED_INDEX, [diag.schema_name, diag.constraint_name, schema, constraint]).fetchone()
    return constraint if found is not None and found[0] else None


def outcome(subject: str, findings: list[Finding], done: str) -> CheckResult:
    """Failed if any probe found a problem, a warning if some proved nothing, else passed."""
    problems = [f.problem for f in findings if f.problem]
    unproven = [f.unproven for f in findings if f.unproven]
    if problems:
        return verdict(subject, problems + unproven, done)
    others = sum(f.by_other for f in findings)
    note = f" ({others} of them stopped first by another declared CHECK)" if others else ""
    if unproven:
        shown = "\n".join(f"  - {u}" for u in unproven)
        return warning(f"{subject}: {len(unproven)} of {len(findings)} probes could not be built:\n{shown}")
    return passed(f"{subject}: {done}{note}")


def _show(column: str, value: Any) -> str:
    """``status = 'pending'``: a probe value as SQL would spell it."""
    if value is None or isinstance(value, (str, int, bool, Decimal)):
        return f"{column} = {literal(value)}"
    return f"{column} = {literal(str(value))}"


def _keys(row: m.Row) -> frozenset[str]:
    return frozenset(k for k, _ in row)


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
                base = factory.valid(self.table)
        except RowRejected as exc:
            return failed(
                f"table {self.qualified}: the derived valid row ({_row_text(tuple(exc.values.items()))}) was "
                f"rejected: {describe_error(exc.error)}. Declare accepts=(...) examples on that CHECK, or a "
                f"ValidRow(table={self.table.name!r}, values={{...}}) in the project's behaviours"
            )
        except RowError as exc:
            return failed(f"table {self.qualified}: cannot derive a valid row: {exc}")
        except psycopg.Error as exc:
            return failed(f"table {self.qualified}: inserting a parent row failed: {describe_error(exc)}")
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
        probe = Probe(
            f"{column.name} = NULL", {**base, column.name: None}, frozenset({column.name}), "23502", column=column.name
        )
        target, done = table, "NULL rejected"
        if column.name in partition_columns(table):
            # NULL in a partition key finds no partition (23514) before NOT NULL is checked: probe the
            # partition the valid row lives in, which enforces its parent's NOT NULL
            leaf = factory.partition_holding(table, base)
            if leaf is not None:
                target, done = table.model_copy(update={"name": leaf}), f"NULL rejected (in partition {leaf})"
        return outcome(f"NOT NULL {tc.qualified}.{column.name}", run_probes(conn, factory, target, [probe]), done)

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


def _real_parents(factory: RowFactory, table: m.Table, row: m.Row) -> dict[str, Any]:
    """An example row with every non-NULL foreign-key value replaced by a real parent's key.

    A CHECK cannot depend on whether a parent exists, so the value an example gives a
    foreign-key column is a placeholder; the probe must be stopped by the CHECK, not the FK.
    """
    values = dict(row)
    for fk in table.foreign_keys:
        if any(values.get(c) is not None for c in fk.columns):
            values.update(factory.parent_key(table, fk))
    return values


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
            fixed = frozenset({col_name})
            probes += [Probe(_show(col_name, v), {**base, col_name: v}, fixed, constraint=check.name) for v in allowed]
            if column.type.name in TEXT_TYPES:
                word = f"zq{factory.rng.getrandbits(24):06x}"
                rejected = outsiders(column, allowed, word)
                probes += [
                    Probe(_show(col_name, v), {**base, col_name: v}, fixed, "23514", check.name) for v in rejected
                ]
                done.append(f"{len(allowed)} allowed values insert, {len(rejected)} outsiders rejected")
            else:
                done.append(f"{len(allowed)} allowed values insert")
        for row in check.accepts:
            values = {**base, **_real_parents(factory, table, row)}
            probes.append(Probe(_row_text(row), values, _keys(row), constraint=check.name))
        for row in check.rejects:
            values = {**base, **_real_parents(factory, table, row)}
            probes.append(Probe(_row_text(row), values, _keys(row), "23514", check.name))
        if check.accepts or check.rejects:
            done.append(f"{len(check.accepts)} accepted and {len(check.rejects)} rejected examples behave")
        subject = f"CHECK {check.name} on {tc.qualified} ({check.expression})"
        if in_list is None and not check.accepts and not check.rejects:
            return warning(
                f"{subject}: no examples declared, so nothing shows that the check accepts valid rows "
                "and rejects invalid ones; declare accepts=(...) and rejects=(...) example rows"
            )
        return outcome(subject, run_probes(conn, factory, table, probes, target=check.name), "; ".join(done))

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
        try:
            absent = factory.absent_key(table, fk)
        except RowError as exc:
            return failed(f"{subject}: cannot find a key that no parent row holds: {exc}")
        fixed = frozenset(fk.columns)
        probes = [
            Probe(f"a row referencing an existing parent ({_row_text(tuple(present.items()))})", {**base, **present},
                  fixed),
            Probe(f"a row referencing a missing parent ({_row_text(tuple(absent.items()))})", {**base, **absent},
                  fixed, "23503", fk.name),
        ]
        findings = run_probes(conn, factory, table, probes)
        return outcome(subject, findings, "existing parent accepted, missing parent rejected")

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
                first = factory.insert(table, factory.valid(table, require=columns))
                second = factory.valid(table, require=columns)
        except (psycopg.Error, RowError) as exc:
            return failed(f"{subject}: the first row did not insert: {exc}")
        key = {c: first[c] for c in columns}
        described = f"a second row with the same {_row_text(tuple(key.items()))}"
        probe = Probe(described, {**second, **key}, frozenset(key), "23505", name)
        return outcome(subject, run_probes(conn, factory, table, [probe]), "a duplicate key is rejected")

    return Case(f"unique:{table.name}.{name}", run, description=", ".join(columns))


def partition_columns(table: m.Table) -> set[str]:
    """The columns that are partition keys of ``table`` (as plain columns)."""
    keys = table.partition_keys()
    return {k for k in keys[1] if k in table.column_names} if keys else set()


def cases(project: Project) -> list[Case]:
    """Every constraint case of the head schema, table by table."""
    out: list[Case] = []
    for table in project.schema.tables:
        out.append(row_case(project, table))
        full = inherited(table, project.schema, project.other_schemas)  # with the columns it inherits
        for column in full.columns:
            if not_null(full, column) and column.generated is None:  # an INSERT cannot name a generated column
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


__all__ = ["Finding", "Probe", "attempt", "cases", "judge", "outcome", "outsiders", "run_probes"]
