"""A valid row for any declared table, derived from the declarations.

Every constraint and trigger probe starts from a row the table accepts. :class:`RowFactory`
derives one column by column:

1. the project's :class:`~orders_schema.declare.behaviour.ValidRow` for the table, when declared;
2. columns with a DEFAULT and nullable columns are left out (the default, or NULL);
3. a NOT NULL column without a default takes, in this order: the first allowed value of its
   IN-list CHECK; a parent row's key when it belongs to a foreign key (the parent is inserted,
   recursively, or an existing row is read for a table outside the declarations); a value from
   the first ``accepts`` example of a CHECK that reads it; a value of its type (for a column of a
   primary key or UNIQUE constraint, a random one that no row of the table holds in that column,
   looked up before it is used, so probes never collide with the rows of a live database);
4. a partitioned table without a DEFAULT partition gets partition key values that a declared
   partition takes (:func:`partition_row`: LIST its first IN value, RANGE its FROM values; HASH
   takes any value); a table that inherits (``INHERITS``) fills its parents' columns too
   (:func:`inherited`);
5. the row is tried (in a rolled-back savepoint); when a CHECK tying several columns together
   rejects it, that CHECK's first ``accepts`` example is laid over it and it is tried again.

Rows are inserted with every name quoted by :mod:`orders_schema.declare.quoting` and every value bound
as a parameter. The factory only inserts; the caller owns the transaction (the checks roll it
back).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from orders_schema.declare import fragments
from orders_schema.declare import model as m
from orders_schema.declare.behaviour import ValidRow
from orders_schema.declare.project import Project
from orders_schema.declare.quoting import q, query

Values = dict[str, Any]

TEXT_TYPES = frozenset({"text", "varchar"})
MAX_PARENT_DEPTH = 8
FRESH_TRIES = 32
"""Random values tried for a key column before giving up (each one looked up in the table)."""


class RowError(RuntimeError):
    """No valid row can be built for a table; the message says which declaration would help."""


class RowRejected(RowError):
    """The table rejected the derived row (after every repair the declarations allow)."""

    def __init__(self, table: str, values: Mapping[str, Any], error: psycopg.Error) -> None:
        diag = error.diag
        super().__init__(f"table {table} rejected the row: {diag.sqlstate} {diag.message_primary or error}")
        self.values = dict(values)
        self.error = error


def text_length(column: m.Column) -> int | None:
    """The length limit of a varchar column, None for text; only meaningful for text types."""
    return column.type.args[0] if column.type.name == "varchar" else None


def fits(column: m.Column, value: str) -> bool:
    limit = text_length(column)
    return limit is None or len(value) <= limit


def key_columns(table: m.Table) -> set[str]:
    """Columns of the primary key and of UNIQUE constraints and indexes (values must be fresh)."""
    cols: set[str] = set(table.primary_key.columns if table.primary_key else ())
    for uq in table.uniques:
        cols |= set(uq.columns)
    for index in table.indexes:
        if index.unique:
            cols |= {key.column for key in index.columns if key.column}
    return cols


def not_null(table: m.Table, column: m.Column) -> bool:
    """NOT NULL as PostgreSQL enforces it: declared, or implied by the primary key."""
    return not column.nullable or bool(table.primary_key and column.name in table.primary_key.columns)


def server_filled(column: m.Column, required: bool = False) -> bool:
    """Whether the server fills the column itself: a generated column and a GENERATED ALWAYS
    identity always (an INSERT may not name them), a BY DEFAULT identity and a serial column
    unless a value is ``required``."""
    if column.generated is not None or (column.identity is not None and column.identity.generated == "ALWAYS"):
        return True
    return not required and (column.identity is not None or column.serial)


def check_columns(check: m.Check) -> set[str]:
    return fragments.referenced_columns(fragments.parse_expression(check.expression, check.name))


def split_table_name(schema: m.Schema, name: str) -> tuple[str, str]:
    """``"t"`` or ``"s.t"`` -> (schema, table)."""
    owner, _, table = name.rpartition(".")
    return owner or schema.name, table


def valid_rows(project: Project) -> dict[str, m.Row]:
    """The project's ValidRow declarations by table name."""
    return {b.table: b.values for b in project.behaviours if isinstance(b, ValidRow)}


def inherited(table: m.Table, schema: m.Schema, others: Iterable[m.Schema] = ()) -> m.Table:
    """``table`` (of ``schema``) with the columns and CHECKs it inherits (``INHERITS``) from declared
    parents (of ``schema`` or one of ``others``), the parents' first, as PostgreSQL lays them out; a
    column declared again is merged (NOT NULL if either is). A parent outside the declarations is
    left out."""
    if not table.inherits:
        return table
    schemas = {o.name: o for o in others}
    schemas[schema.name] = schema
    columns: dict[str, m.Column] = {}
    checks: dict[str, m.Check] = {}

    def merge(column: m.Column, own: bool) -> None:
        seen = columns.get(column.name)
        if seen is not None:
            column = (column if own else seen).model_copy(update={"nullable": seen.nullable and column.nullable})
        columns[column.name] = column

    for name in table.inherits:
        schema_name, parent_name = split_table_name(schema, name)
        owner = schemas.get(schema_name)
        parent = next((t for t in owner.tables if t.name == parent_name), None) if owner else None
        if owner is None or parent is None:
            continue
        parent = inherited(parent, owner, schemas.values())
        for column in parent.columns:
            merge(column, own=False)
        checks.update({c.name: c for c in parent.checks})
    for column in table.columns:
        merge(column, own=True)
    checks.update({c.name: c for c in table.checks})
    return table.model_copy(update={"columns": tuple(columns.values()), "checks": tuple(checks.values())})


def bound_value(text: str) -> tuple[bool, Any]:
    """A partition bound's value (SQL text as PostgreSQL prints it) as a parameter: ``(True, value)``,
    or ``(False, None)`` for ``MINVALUE``/``MAXVALUE`` and anything that is not a plain literal.

    A quoted literal stays a string: it is bound untyped, so the server reads it as the column's type.
    """
    if text.strip().upper() in ("MINVALUE", "MAXVALUE"):
        return False, None
    try:
        tree = fragments.parse_expression(text, "partition bound")
    except fragments.FragmentError:
        return False, None
    while isinstance(tree, fragments.exp.Cast):
        tree = tree.this
    negative = isinstance(tree, fragments.exp.Neg)
    if negative:
        tree = tree.this
    if isinstance(tree, fragments.exp.Null) and not negative:
        return True, None
    if isinstance(tree, fragments.exp.Boolean) and not negative:
        return True, bool(tree.this)
    if not isinstance(tree, fragments.exp.Literal):
        return False, None
    if tree.is_string:
        return (False, None) if negative else (True, str(tree.this))
    number = str(tree.this)
    value: int | Decimal = int(number) if number.isdigit() else Decimal(number)
    return True, -value if negative else value


def partition_row(table: m.Table) -> Values:
    """Partition key column -> a value that a declared partition of ``table`` takes; ``{}`` when any
    value fits (not partitioned, HASH, or a DEFAULT partition takes the rest) or none is known.

    LIST: the partition's first IN value; RANGE: its FROM values (inclusive), from the first
    partition whose FROM bound is all plain values. Keys that are expressions are left alone.
    """
    keys = table.partition_keys()
    if keys is None or keys[0] == "HASH" or any(p.is_default for p in table.partitions):
        return {}
    method, exprs = keys
    columns = set(table.column_names)
    for partition in table.partitions:
        bound = partition.bound_values()
        given = bound.get("in", ())[:1] if method == "LIST" else bound.get("from", ())
        if len(given) != len(exprs):
            continue
        parsed = [bound_value(v) for v in given]
        if not all(ok for ok, _ in parsed):
            continue
        return {key: value for key, (_, value) in zip(exprs, parsed, strict=True) if key in columns}
    return {}


class RowFactory:
    """Builds and inserts valid rows for the tables of one declared schema."""

    def __init__(
        self,
        conn: psycopg.Connection,
        schema: m.Schema,
        valid: Mapping[str, m.Row] | None = None,
        rng: random.Random | None = None,
        others: Sequence[m.Schema] = (),
    ) -> None:
        self.conn = conn
        self.schema = schema
        self.others = {o.name: o for o in others}
        """A project's other schemas: a foreign key to one of their tables gets a parent row made there."""
        self.valid_rows = dict(valid or {})
        self.rng = rng or random.Random()
        self.inserted: list[tuple[str, str, dict[str, Any]]] = []
        """(schema, table, key) of every row inserted, in order (for cleanup after commits); the key
        is the primary key's values, or ``{"ctid": ...}`` for a table without one."""

    @classmethod
    def for_project(cls, conn: psycopg.Connection, project: Project) -> RowFactory:
        return cls(conn, project.schema, valid_rows(project), others=project.other_schemas)

    # -- values ---------------------------------------------------------------------------------

    def values(self, table: m.Table, require: Iterable[str] = (), *, _depth: int = 0) -> Values:
        """A row for ``table`` (column -> value); inserts parent rows that foreign keys need.

        ``require``: columns that must hold a value even if nullable or defaulted-free NULL would do.
        """
        required = set(require)
        declared = dict(self.valid_rows.get(table.name, ()))
        table = self.inherited(table)
        row: Values = dict(declared)
        for column in table.columns:
            if column.name in row or server_filled(column, column.name in required):
                continue
            if column.name in required and column.default is not None and not self._in_fk(table, column):
                continue  # the default gives it a value
            if column.name in required or (not_null(table, column) and column.default is None):
                self._fill(table, column, row, _depth)
        # a partitioned table without a DEFAULT partition only takes rows its partitions' bounds hold
        row.update({k: v for k, v in partition_row(table).items() if k not in declared})
        return row

    def inherited(self, table: m.Table) -> m.Table:
        """``table`` with the columns and CHECKs it inherits (see :func:`inherited`)."""
        return inherited(table, self.schema, self.others.values())

    def _in_fk(self, table: m.Table, column: m.Column) -> bool:
        return any(column.name in fk.columns for fk in table.foreign_keys)

    def _fill(self, table: m.Table, column: m.Column, row: Values, depth: int) -> None:
        allowed = self._allowed(table, column)
        if allowed:
            row[column.name] = allowed[0]
            return
        for fk in table.foreign_keys:
            if column.name in fk.columns:
                row.update(self.parent_key(table, fk, depth))
                return
        example = self._example(table, column)
        if example is not None:
            row[column.name] = example
            return
        if column.name in key_columns(table):
            row[column.name] = self.fresh_value(column, self.schema.name, table.name)
        else:
            row[column.name] = self.type_value(column)

    def _allowed(self, table: m.Table, column: m.Column) -> tuple[str, ...]:
        for check in table.checks:
            found = check.allowed_values()
            if found and found[0] == column.name and found[1]:
                return found[1]
        return ()

    def _example(self, table: m.Table, column: m.Column) -> m.ScalarValue:
        for check in table.checks:
            for example in check.accepts[:1]:
                for name, value in example:
                    if name == column.name and value is not None:
                        return value
        return None

    def type_value(self, column: m.Column, *, fresh: bool = False) -> Any:
        """A value of the column's type; ``fresh`` values are random (see :meth:`fresh_value`)."""
        t = column.type
        n = self.rng.getrandbits(30)
        if t.array:  # an array of one element of its element type
            return [self.type_value(column.model_copy(update={"type": t.model_copy(update={"array": 0})}), fresh=fresh)]
        if t.in_schema == self.schema.name:  # the schema's own enum (a label) or domain (a value of its base type)
            for enum in self.schema.enums:
                if enum.name == t.name:
                    return self.rng.choice(enum.labels) if fresh else enum.labels[0]
            for domain in self.schema.domains:
                if domain.name == t.name:
                    return self.type_value(column.model_copy(update={"type": domain.base}), fresh=fresh)
        if t.name == "uuid":
            return uuid.UUID(int=self.rng.getrandbits(128), version=4)
        if t.name in TEXT_TYPES or t.name == "citext":  # citext: the extension's case-insensitive text
            value = f"p{self.rng.getrandbits(48):012x}" if fresh else "probe"
            limit = text_length(column)
            return value[-limit:] if limit is not None else value
        if t.name in ("smallint", "integer", "bigint"):
            if not fresh:
                return 1
            return 1 + (n % 32_000 if t.name == "smallint" else self.rng.getrandbits(30 if t.name == "integer" else 62))
        if t.name in ("decimal", "numeric"):
            precision = t.args[0] if t.args else 30
            scale = t.args[1] if len(t.args) > 1 else 0
            if precision == scale:
                return Decimal(1).scaleb(-scale)
            return Decimal(1 + n % (10 ** min(precision - scale, 9) - 1)) if fresh else Decimal(1)
        if t.name == "boolean":
            return False
        if t.name in ("timestamptz", "timestamp"):
            when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(microseconds=n if fresh else 0)
            return when if t.name == "timestamptz" else when.replace(tzinfo=None)
        if t.name == "date":
            return dt.date.today() - dt.timedelta(days=n % 10_000 if fresh else 0)
        if t.name == "jsonb":
            return Jsonb({"probe": n} if fresh else {})
        raise RowError(f"column {column.name}: no value known for type {t.name}; declare a ValidRow")

    # -- foreign keys -----------------------------------------------------------------------------

    def parent_key(self, table: m.Table, fk: m.ForeignKey, depth: int = 0) -> Values:
        """FK column -> value of an existing parent row (inserted by this factory when declared)."""
        schema_name, parent_name = split_table_name(self.schema, fk.ref_table)
        if schema_name == self.schema.name:
            if depth >= MAX_PARENT_DEPTH:
                raise RowError(
                    f"table {table.name}: foreign keys nest deeper than {MAX_PARENT_DEPTH} tables "
                    f"(a cycle through {fk.name}?); declare a ValidRow for it"
                )
            parent = self.schema.table(parent_name)
            inserted = self.insert(parent, self.valid(parent, require=fk.ref_columns, _depth=depth + 1))
            return {col: inserted[ref] for col, ref in zip(fk.columns, fk.ref_columns, strict=True)}
        if schema_name in self.others and depth < MAX_PARENT_DEPTH:  # another schema of the project
            other = RowFactory(self.conn, self.others[schema_name], rng=self.rng,
                               others=[self.schema, *self.others.values()])
            other.inserted = self.inserted
            parent = other.schema.table(parent_name)
            inserted = other.insert(parent, other.valid(parent, require=fk.ref_columns, _depth=depth + 1))
            return {col: inserted[ref] for col, ref in zip(fk.columns, fk.ref_columns, strict=True)}
        cols = ", ".join(q(c) for c in fk.ref_columns)
        nonnull = " AND ".join(f"{q(c)} IS NOT NULL" for c in fk.ref_columns)
        found = self.conn.execute(
            query(f"SELECT {cols} FROM {q(schema_name, parent_name)} WHERE {nonnull} LIMIT 1")
        ).fetchone()
        if found is None:
            raise RowError(
                f"table {table.name}: foreign key {fk.name} references {fk.ref_table}, which is not "
                "declared in this schema and has no rows; declare a ValidRow for the table"
            )
        return dict(zip(fk.columns, found, strict=True))

    def absent_key(self, table: m.Table, fk: m.ForeignKey) -> Values:
        """FK column -> a value that no parent row holds (each one looked up in the parent table)."""
        schema_name, parent_name = split_table_name(self.schema, fk.ref_table)
        return {
            c: self.fresh_value(table.column(c), schema_name, parent_name, stored_in=ref)
            for c, ref in zip(fk.columns, fk.ref_columns, strict=True)
        }

    def fresh_value(self, column: m.Column, schema_name: str, table_name: str, stored_in: str | None = None) -> Any:
        """A random value of ``column``'s type that no row of ``schema_name.table_name`` holds in
        column ``stored_in`` (default: the column itself).

        Probes run against live databases, full of rows that look like what they write: a key
        value is looked up before it is used (rows inserted earlier in the transaction count too),
        so a probe never collides with an existing row. A boolean has no value to spare; the
        other columns of its key keep the key fresh. Raises :class:`RowError` after
        :data:`FRESH_TRIES` taken values.
        """
        target = stored_in or column.name
        value = self.type_value(column, fresh=True)
        if column.type.name == "boolean":
            return value
        lookup = query(f"SELECT 1 FROM {q(schema_name, table_name)} WHERE {q(target)} = %s LIMIT 1")
        for _ in range(FRESH_TRIES):
            if self.conn.execute(lookup, [value]).fetchone() is None:
                return value
            value = self.type_value(column, fresh=True)
        raise RowError(
            f"column {column.name}: {FRESH_TRIES} random values of type {column.type.name} were all taken in "
            f"{schema_name}.{table_name}.{target}; declare a ValidRow for the table"
        )

    # -- inserting --------------------------------------------------------------------------------

    def valid(
        self,
        table: m.Table,
        overrides: Mapping[str, Any] | None = None,
        require: Iterable[str] = (),
        *,
        _depth: int = 0,
    ) -> Values:
        """Derived values (with ``overrides``), settled (see :meth:`settle`) until the table accepts them.

        ``overrides`` and the table's ValidRow are never changed. Raises :class:`RowRejected` when
        the table still rejects the row.
        """
        row = self.values(table, require=[*require, *(overrides or {})], _depth=_depth)
        row.update(overrides or {})
        fixed = {*dict(self.valid_rows.get(table.name, ())), *(overrides or {})}
        row, error = self.settle(table, row, fixed)
        if error is not None:
            raise RowRejected(f"{self.schema.name}.{table.name}", row, error)
        return row

    def settle(
        self, table: m.Table, row: Mapping[str, Any], fixed: Iterable[str] = (), target: str | None = None
    ) -> tuple[Values, psycopg.Error | None]:
        """Try the row in a rolled-back savepoint, repairing it for CHECKs other than ``target``.

        While a declared CHECK other than ``target`` rejects the row, one of that CHECK's
        ``accepts`` examples that agrees with the ``fixed`` columns is laid over the other
        columns (each example once) and the row is tried again; a foreign-key column an example
        sets gets the key of a real parent row. Returns the last row tried and the error it met
        (None when it inserted). Nothing stays inserted but the parents.
        """
        table = self.inherited(table)
        current: Values = dict(row)
        keep = set(fixed)
        tried: set[tuple[str, int]] = set()
        while True:
            try:
                with self.conn.transaction(force_rollback=True):
                    self._insert(table, current)
                return current, None
            except psycopg.Error as exc:
                error = exc
            example = self._repair(table, error, current, keep, target, tried)
            if example is None:
                return current, error
            current.update({k: v for k, v in example if k not in keep})
            self._real_parents(table, current, {k for k, _ in example} - keep)

    def _repair(
        self,
        table: m.Table,
        error: psycopg.Error,
        row: Mapping[str, Any],
        keep: set[str],
        target: str | None,
        tried: set[tuple[str, int]],
    ) -> m.Row | None:
        """The first untried accepts example of the CHECK that rejected the row, agreeing with ``keep``."""
        if not isinstance(error, psycopg.errors.CheckViolation) or error.diag.constraint_name == target:
            return None
        check = next((c for c in table.checks if c.name == error.diag.constraint_name), None)
        if check is None:
            return None
        for n, example in enumerate(check.accepts):
            agrees = all(row.get(k) == v for k, v in example if k in keep)
            if agrees and (check.name, n) not in tried:
                tried.add((check.name, n))
                return example
        return None

    def _real_parents(self, table: m.Table, row: Values, columns: set[str]) -> None:
        """Give every foreign key that ``columns`` touch (non-NULL) the key of an existing parent."""
        for fk in table.foreign_keys:
            touched = set(fk.columns) & columns
            if touched and all(row.get(c) is not None for c in fk.columns):
                row.update(self.parent_key(table, fk))

    def insert(self, table: m.Table, values: Mapping[str, Any]) -> Values:
        """INSERT the row and return it as stored (every column, plus ``ctid``)."""
        row = self._insert(table, values)
        keys = table.primary_key.columns if table.primary_key else ("ctid",)
        self.inserted.append((self.schema.name, table.name, {k: row[k] for k in keys}))
        return row

    def _insert(self, table: m.Table, values: Mapping[str, Any]) -> Values:
        target = q(self.schema.name, table.name)
        if values:
            names = ", ".join(q(c) for c in values)
            marks = ", ".join("%s" for _ in values)
            # a value for a GENERATED ALWAYS identity (a case probing its key or NOT NULL) overrides it
            always = any(c.name in values and c.identity is not None and c.identity.generated == "ALWAYS"
                         for c in table.columns)
            overriding = " OVERRIDING SYSTEM VALUE" if always else ""
            text = f"INSERT INTO {target} ({names}){overriding} VALUES ({marks}) RETURNING ctid, *"
        else:
            text = f"INSERT INTO {target} DEFAULT VALUES RETURNING ctid, *"
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query(text), list(values.values()))
            row = cur.fetchone()
        assert row is not None
        return row

    def partition_holding(self, table: m.Table, values: Mapping[str, Any]) -> str | None:
        """The name of the leaf partition of ``table`` (of this schema) that the row is routed to,
        found by inserting it in a rolled-back savepoint; None when the table is not partitioned, the
        leaf lies in another schema or the row does not insert."""
        if table.partition_by is None:
            return None
        target = q(self.schema.name, table.name)
        names = ", ".join(q(c) for c in values)
        marks = ", ".join("%s" for _ in values)
        text = (f"INSERT INTO {target} ({names}) VALUES ({marks}) RETURNING (SELECT c.relname "
                "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = tableoid AND n.nspname = %s)")
        try:
            with self.conn.transaction(force_rollback=True):
                found = self.conn.execute(query(text), [*values.values(), self.schema.name]).fetchone()
        except psycopg.Error:
            return None
        return None if found is None or found[0] is None else str(found[0])

    def insert_valid(self, table: m.Table, overrides: Mapping[str, Any] | None = None) -> Values:
        """Insert a :meth:`valid` row (with ``overrides`` applied) and return it as stored."""
        return self.insert(table, self.valid(table, overrides))

    def delete_inserted(self) -> list[str]:
        """Delete every row this factory inserted, newest first; return the problems met.

        Meant for rows that were committed (a rolled-back insert needs no cleanup). Rows are found
        by primary key; a table without one by ``ctid`` (see :meth:`moved`).
        """
        problems: list[str] = []
        for schema_name, table_name, key in reversed(self.inserted):
            where = " AND ".join(f"{q(c) if c != 'ctid' else 'ctid'} = %s" for c in key)
            text = f"DELETE FROM {q(schema_name, table_name)} WHERE {where}"
            try:
                with self.conn.transaction():
                    self.conn.execute(query(text), list(key.values()))
            except psycopg.Error as exc:
                problems.append(f"could not delete the probe row of {schema_name}.{table_name} ({key}): {exc}")
        self.inserted.clear()
        return problems

    def moved(self, schema_name: str, table_name: str, old_ctid: Any, new_ctid: Any) -> None:
        """Record that an UPDATE moved an inserted row of a table without primary key to ``new_ctid``."""
        self.inserted = [
            (s, t, {"ctid": new_ctid} if (s, t, k) == (schema_name, table_name, {"ctid": old_ctid}) else k)
            for s, t, k in self.inserted
        ]
