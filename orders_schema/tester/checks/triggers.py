"""Trigger cases: the declared behaviour (:mod:`orders_schema.declare.behaviour`) run on a real server.

``trigger:touches:<table>.<column>`` (rollback)
    ``now()`` is the start time of the transaction, so inside one transaction a row inserted with
    the default and then updated would keep the same value whatever the trigger does. The probe
    therefore inserts the row with the column set to 2000-01-01 and updates another column
    (``SET via = via``): the column must move past 2000 to at least ``now()``. With
    ``even_when_set``, an UPDATE that writes 2000-01-01 into the column itself must not keep it.
    Everything is rolled back, so this runs on a live database.
``trigger:touches-across-transactions:<table>.<column>`` (commits)
    the same promise the way an application sees it: insert and commit, update in a second
    transaction and commit, the column must have advanced. The rows it inserted are deleted
    afterwards (by primary key); writes other triggers made are not undone.
``trigger:audits:<table>.<column>`` (rollback)
    changing the column writes exactly one audit row whose columns hold what ``writes`` declares
    (compared as text); an UPDATE that writes the same value back (and changes the text columns
    the audit reads) writes none.

Audit rows are told apart from the audit table's other rows by the audit columns that carry the
changed row's primary key (e.g. ``config_key <- NEW.id``); without such a column, by every
declared value.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare.behaviour import AuditsChange, Const, New, Old, TouchesOnUpdate
from orders_schema.declare.project import Project
from orders_schema.declare.quoting import q, query
from orders_schema.migrate.render import type_sql
from orders_schema.tester.checks import Case, CheckResult, failed, verdict
from orders_schema.tester.checks.constraints import describe_error
from orders_schema.tester.checks.rows import TEXT_TYPES, RowError, RowFactory, fits, split_table_name

PAST = "2000-01-01 00:00:00+00"
"""The value the touch probe writes; any real update time is later."""


def _table(project: Project, name: str) -> m.Table | None:
    try:
        return project.schema.table(name)
    except KeyError:
        return None


def _unknown(project: Project, table: str, columns: Sequence[str]) -> str | None:
    """What the declaration names that the schema does not have, if anything."""
    declared = _table(project, table)
    if declared is None:
        return f"table {project.schema.name}.{table} is not declared"
    missing = [c for c in columns if c not in declared.column_names]
    if missing:
        return f"table {project.schema.name}.{table} has no column(s) {missing}"
    return None


def _via(table: m.Table, behaviour: TouchesOnUpdate) -> str:
    if behaviour.via:
        return behaviour.via
    keys = set(table.primary_key.columns if table.primary_key else ())
    others = [c.name for c in table.columns if c.name != behaviour.column and c.name not in keys]
    return others[0] if others else table.columns[0].name


def _update(
    conn: psycopg.Connection,
    schema: str,
    table: m.Table,
    ctid: Any,
    assignments: str,
    params: Sequence[Any],
    returning: str = "1",
    returning_params: Sequence[Any] = (),
) -> tuple[Any, ...]:
    """UPDATE the row at ``ctid`` (``assignments`` holds ``%s`` for ``params``); return ``(new ctid, *returning)``."""
    text = f"UPDATE {q(schema, table.name)} SET {assignments} WHERE ctid = %s RETURNING ctid, {returning}"
    row = conn.execute(query(text), [*params, ctid, *returning_params]).fetchone()
    if row is None:
        raise RowError(f"the probe row of {schema}.{table.name} vanished before the update")
    return tuple(row)


# ---------------------------------------------------------------------------------------------
# TouchesOnUpdate
# ---------------------------------------------------------------------------------------------


def touches_case(project: Project, behaviour: TouchesOnUpdate) -> Case:
    s, name, col = project.schema.name, behaviour.table, behaviour.column
    subject = f"trigger behaviour: {s}.{name}.{col} advances on every UPDATE"

    def run(conn: psycopg.Connection) -> CheckResult:
        table = project.schema.table(name)
        via = _via(table, behaviour)
        factory = RowFactory.for_project(conn, project)
        try:
            with conn.transaction():
                row = factory.insert_valid(table, {col: PAST})
        except (psycopg.Error, RowError) as exc:
            return failed(f"{subject}: the probe row with {col} = {PAST!r} did not insert: {exc}")
        ctid = row["ctid"]
        try:
            return _touch_probes(conn, project, behaviour, table, ctid, via, subject)
        except psycopg.Error as exc:
            return failed(f"{subject}: the probe UPDATE failed: {describe_error(exc)}")

    return Case(f"trigger:touches:{name}.{col}", run, description=subject)


def _touch_probes(
    conn: psycopg.Connection,
    project: Project,
    behaviour: TouchesOnUpdate,
    table: m.Table,
    ctid: Any,
    via: str,
    subject: str,
) -> CheckResult:
    """Update another column, then the column itself with an old value: it must advance both times."""
    s, col = project.schema.name, behaviour.column
    column = table.column(col)
    advanced = f"{q(col)}::text, {q(col)} > %s, {q(col)} >= CAST(now() AS {type_sql(column.type)})"
    problems: list[str] = []
    ctid, value, later, current = _update(conn, s, table, ctid, f"{q(via)} = {q(via)}", [], advanced, [PAST])
    if not (later and current):
        problems.append(
            f"after UPDATE ... SET {via} = {via}, {col} is {value}; expected it to advance from "
            f"{PAST} to the time of the update (now())"
        )
    if behaviour.even_when_set:
        _, value, later, current = _update(conn, s, table, ctid, f"{q(col)} = %s", [PAST], advanced, [PAST])
        if not (later and current):
            problems.append(
                f"after UPDATE ... SET {col} = '{PAST}' (a repository saving the whole row writes the "
                f"old value back), {col} is {value}; expected the trigger to replace it with the "
                "time of the update"
            )
    return verdict(subject, problems, f"{col} moved from {PAST} to the update time")


def touches_across_transactions_case(project: Project, behaviour: TouchesOnUpdate) -> Case:
    s, name, col = project.schema.name, behaviour.table, behaviour.column
    subject = f"trigger behaviour: {s}.{name}.{col} advances on an UPDATE in a later transaction"

    def run(conn: psycopg.Connection) -> CheckResult:
        table = project.schema.table(name)
        via = _via(table, behaviour)
        factory = RowFactory.for_project(conn, project)
        problems: list[str] = []
        try:
            with conn.transaction():
                row = factory.insert_valid(table)
        except (psycopg.Error, RowError) as exc:
            factory.inserted.clear()  # rolled back: nothing to delete (and keys may belong to real rows)
            return failed(f"{subject}: the probe row did not insert: {exc}")
        try:
            before = row[col]
            time.sleep(0.002)  # now() has microsecond resolution; make the two start times differ
            with conn.transaction():
                new_ctid, after = _update(conn, s, table, row["ctid"], f"{q(via)} = {q(via)}", [], q(col))
                factory.moved(s, name, row["ctid"], new_ctid)
            if not after > before:
                problems.append(
                    f"inserted with {col} = {before}, then UPDATE ... SET {via} = {via} in a new transaction "
                    f"left {col} = {after}; expected it to advance"
                )
        except (psycopg.Error, RowError) as exc:
            problems.append(f"the probe failed: {exc}")
        finally:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            problems += factory.delete_inserted()
        return verdict(subject, problems, f"{col} advanced between two committed transactions")

    return Case(
        f"trigger:touches-across-transactions:{name}.{col}", run, needs="commits", description=subject
    )


# ---------------------------------------------------------------------------------------------
# AuditsChange
# ---------------------------------------------------------------------------------------------


def _change_values(table: m.Table, behaviour: AuditsChange) -> tuple[Any, Any] | None:
    if behaviour.values is not None:
        return behaviour.values
    for check in table.checks:
        found = check.allowed_values()
        if found and found[0] == behaviour.column and len(found[1]) >= 2:
            return found[1][0], found[1][1]
    return None


def _row_text(
    conn: psycopg.Connection, schema: str, table: m.Table, ctid: Any, columns: Sequence[str]
) -> dict[str, Any]:
    """The row's values of ``columns`` as text (as a trigger's ``NEW.col::text`` renders them)."""
    if not columns:
        return {}
    cols = ", ".join(f"{q(c)}::text" for c in columns)
    row = conn.execute(query(f"SELECT {cols} FROM {q(schema, table.name)} WHERE ctid = %s"), [ctid]).fetchone()
    if row is None:
        raise RowError(f"the probe row of {schema}.{table.name} vanished")
    return dict(zip(columns, row, strict=True))


class _Audit:
    """Reads the audit rows that belong to one probe row."""

    def __init__(self, project: Project, table: m.Table, behaviour: AuditsChange) -> None:
        self.schema, self.table_name = split_table_name(project.schema, behaviour.audit_table)
        self.behaviour = behaviour
        self.columns = [name for name, _ in behaviour.writes]
        keys = set(table.primary_key.columns if table.primary_key else ())
        self.key_columns = [
            name for name, v in behaviour.writes if isinstance(v, (New, Old)) and v.column in keys
        ]

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table_name}"

    def expected(self, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.behaviour.writes:
            if isinstance(value, New):
                out[name] = new[value.column]
            elif isinstance(value, Old):
                out[name] = old[value.column]
            else:
                assert isinstance(value, Const)
                out[name] = value.value
        return out

    def rows(self, conn: psycopg.Connection, filter_values: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Audit rows (declared columns as text) matching ``filter_values`` on the key columns."""
        match = self.key_columns or self.columns
        where = " AND ".join(f"{q(c)}::text IS NOT DISTINCT FROM %s" for c in match)
        cols = ", ".join(f"{q(c)}::text" for c in self.columns)
        text = f"SELECT {cols} FROM {q(self.schema, self.table_name)} WHERE {where}"
        return [tuple(r) for r in conn.execute(query(text), [filter_values[c] for c in match]).fetchall()]


def _added(before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    rest = list(before)
    out = []
    for row in after:
        if row in rest:
            rest.remove(row)
        else:
            out.append(row)
    return out


def _audited_update(
    conn: psycopg.Connection,
    audit: _Audit,
    schema: str,
    table: m.Table,
    ctid: Any,
    sets: str,
    params: Sequence[Any],
    old: dict[str, Any],
) -> tuple[Any, dict[str, Any], list[tuple[Any, ...]]]:
    """Run a probe UPDATE; return the row's new ctid, its new values and the audit rows it added.

    The UPDATE is first rehearsed in a rolled-back savepoint to learn the values the audit row
    must hold, so the audit rows already like it are counted with the same filter before and after.
    """
    columns = list(old)
    with conn.transaction(force_rollback=True):
        rehearsed = _update(conn, schema, table, ctid, sets, params)[0]
        new = _row_text(conn, schema, table, rehearsed, columns)
    seen = audit.rows(conn, audit.expected(old, new))
    with conn.transaction():
        ctid = _update(conn, schema, table, ctid, sets, params)[0]
    new = _row_text(conn, schema, table, ctid, columns)
    return ctid, new, _added(seen, audit.rows(conn, audit.expected(old, new)))


def audits_case(project: Project, behaviour: AuditsChange) -> Case:
    s, name, col = project.schema.name, behaviour.table, behaviour.column
    subject = f"trigger behaviour: changing {s}.{name}.{col} writes one row to {behaviour.audit_table}"

    def run(conn: psycopg.Connection) -> CheckResult:
        table = project.schema.table(name)
        change = _change_values(table, behaviour)
        if change is None:
            return failed(
                f"{subject}: no values to change {col} between; it has no IN-list CHECK with two values, "
                "so declare values=(from, to) on the AuditsChange"
            )
        from_value, to_value = change
        audit = _Audit(project, table, behaviour)
        sources = behaviour.source_columns()
        keys = set(table.primary_key.columns if table.primary_key else ())
        marked = [
            c for c in sources
            if c != col and c not in keys and table.column(c).type.name in TEXT_TYPES
        ]
        factory = RowFactory.for_project(conn, project)
        try:
            with conn.transaction():
                row = factory.insert_valid(table, {col: from_value})
        except (psycopg.Error, RowError) as exc:
            return failed(f"{subject}: the probe row with {col} = {from_value!r} did not insert: {exc}")
        ctid = row["ctid"]
        problems: list[str] = []

        def marker(n: int) -> str:
            return f"audit probe {n} {factory.rng.getrandbits(24):06x}"

        try:
            # 1. the column changes: exactly one audit row with the declared values
            old = _row_text(conn, s, table, ctid, sources)
            marks = {c: m for c in marked if fits(table.column(c), m := marker(1))}
            sets = ", ".join([f"{q(col)} = %s", *(f"{q(c)} = %s" for c in marks)])
            ctid, new, written = _audited_update(conn, audit, s, table, ctid, sets, [to_value, *marks.values()], old)
            want = audit.expected(old, new)
            change_text = f"{col} changed {from_value!r} -> {to_value!r}"
            if not written:
                problems.append(f"{change_text}: no row was written to {audit.name}; expected one with {want}")
            elif len(written) > 1:
                problems.append(f"{change_text}: {len(written)} rows were written to {audit.name}; expected one")
            else:
                got = dict(zip(audit.columns, written[0], strict=True))
                wrong = [f"{c} = {got[c]!r} (expected {want[c]!r})" for c in audit.columns if got[c] != want[c]]
                if wrong:
                    problems.append(f"{change_text}: the row written to {audit.name} has " + ", ".join(wrong))

            # 2. the column is written with the value it already has: no audit row
            marks = {c: m for c in marked if fits(table.column(c), m := marker(2))}
            sets = ", ".join([f"{q(col)} = {q(col)}", *(f"{q(c)} = %s" for c in marks)])
            ctid, _, written = _audited_update(conn, audit, s, table, ctid, sets, list(marks.values()), new)
        except psycopg.Error as exc:
            return failed(f"{subject}: a probe UPDATE failed: {describe_error(exc)}")
        if written:
            others = f" and {', '.join(marks)}" if marks else ""
            problems.append(
                f"an UPDATE that left {col} unchanged (SET {col} = {col}{others}) wrote {len(written)} "
                f"row(s) to {audit.name}; expected none"
            )
        return verdict(subject, problems, f"one audit row per change of {col}, none otherwise")

    return Case(f"trigger:audits:{name}.{col}", run, description=subject)


# ---------------------------------------------------------------------------------------------


def _invalid(case_id: str, message: str) -> Case:
    return Case(case_id, lambda conn: failed(message), description=message)


def cases(project: Project) -> list[Case]:
    """A case per declared trigger behaviour (and per ValidRow, see constraints' ``row:`` cases)."""
    out: list[Case] = []
    for behaviour in project.behaviours:
        if isinstance(behaviour, TouchesOnUpdate):
            cols = [behaviour.column, *([behaviour.via] if behaviour.via else [])]
            problem = _unknown(project, behaviour.table, cols)
            case_id = f"trigger:touches:{behaviour.table}.{behaviour.column}"
            if problem:
                out.append(_invalid(case_id, f"{case_id}: the declaration does not match the schema: {problem}"))
                continue
            out.append(touches_case(project, behaviour))
            out.append(touches_across_transactions_case(project, behaviour))
        elif isinstance(behaviour, AuditsChange):
            case_id = f"trigger:audits:{behaviour.table}.{behaviour.column}"
            problem = _unknown(project, behaviour.table, [behaviour.column, *behaviour.source_columns()])
            audit_schema, audit_table = split_table_name(project.schema, behaviour.audit_table)
            if problem is None and audit_schema == project.schema.name:
                problem = _unknown(project, audit_table, [name for name, _ in behaviour.writes])
            if problem:
                out.append(_invalid(case_id, f"{case_id}: the declaration does not match the schema: {problem}"))
                continue
            out.append(audits_case(project, behaviour))
    return out
