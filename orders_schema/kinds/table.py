"""The table kind: tables with their columns, and their primary key's changes and placement.

* declaration: :class:`~orders_schema.declare.model.Table` and its
  :class:`~orders_schema.declare.model.Column` tuple, in the model;
* identity: the table's name (a column: its name within its table); a rename is only seen when
  declared (``renamed_from``), never guessed: :func:`renames` applies the declared ones to the old
  schema before every kind diffs it;
* sameness: columns by name, type, nullability and normalised default (:func:`same_column`), the
  primary key by its constraint's name and columns;
* changes: :class:`AddTable` / :class:`DropTable`, :class:`RenameTable` (with
  :class:`RenamePrimaryKey` when the key's name is the table's default), :class:`AddColumn` /
  :class:`DropColumn`, :class:`RenameColumn`, :class:`AlterColumn` and
  :class:`ChangePrimaryKey`; a partitioned table's :class:`AddPartition` / :class:`DropPartition`,
  :class:`SetLogged` (UNLOGGED), and :class:`Reshape` (partitioning or parents changed: refused
  when planned), each with its reverse;
* statements: :class:`CreateTable` (CHECK and UNIQUE inline; foreign keys and indexes once every
  new table exists), the renames, column additions and changes, :class:`SwapPrimaryKey` (a key
  changed without blocking writes: its unique index built CONCURRENTLY, then swapped in),
  :class:`RunSql` (the backfill of a derived table, ``Table.populate``), and the drops of
  columns and tables, last; partitions: :class:`CreatePartition` (``PARTITION OF``, with a new
  table), :class:`AttachPartition` (added to a table with rows: SHARE UPDATE EXCLUSIVE on it, not
  the ACCESS EXCLUSIVE of ``PARTITION OF``), :class:`DetachPartition` (``CONCURRENTLY``, online);
  :func:`destructive` names the changes that lose data;
* stored form: one catalogue query of the tables and their columns (``format_type``,
  ``pg_get_expr``), as :class:`TableInfo` and :class:`ColumnInfo`; compared column by column
  (type, NOT NULL, default, identity, generated) and on the columns' order, then partitioning,
  partitions, persistence and parents (:func:`compare_shape`). A partition is its table's, not a
  table of its own. The primary key's stored form and comparison are the constraint kind's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from orders_schema.declare import fragments
from orders_schema.declare.quoting import comment, dollar_quote, ident, literal, qualified
from orders_schema.kinds import backfill
from orders_schema.kinds import sequence as seqkind
from orders_schema.kinds.base import (
    Declaration,
    Declared,
    Kind,
    PlanContext,
    Planned,
    Refused,
    Undeclared,
    by_dependency,
)
from orders_schema.kinds.constraint import (
    AddConstraintStatement,
    ConstraintInfo,
    DropConstraintStatement,
    check_sql,
    collapsing_uniques,
    exclude_sql,
    foreign_key_sql,
    primary_key_sql,
    unique_sql,
)
from orders_schema.kinds.index import CreateIndex
from orders_schema.kinds.sequence import (
    CreateSequence,
    DropSequenceStatement,
    SequenceOwnedBy,
    options_sql,
)
from orders_schema.kinds.trigger import TriggerInfo
from orders_schema.kinds.view import guarded_drop
from orders_schema.live.difference import Difference, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import LINE_LIMIT, Statement, renders, terminated

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

normal = fragments.normal


def same_column(a: m.Column, b: m.Column) -> bool:
    return (a.name, a.type, a.nullable, normal(a.default), a.collation) == (
        b.name, b.type, b.nullable, normal(b.default), b.collation) and (
        (a.identity, normal(a.generated), a.serial) == (b.identity, normal(b.generated), b.serial))


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddTable(Change):
    table: m.Table

    def reverse(self) -> Change:
        return DropTable(self.table)


@dataclass(frozen=True)
class DropTable(Change):
    table: m.Table

    def reverse(self) -> Change:
        return AddTable(self.table)


@dataclass(frozen=True)
class RenameTable(Change):
    old: str
    new: str

    def reverse(self) -> Change:
        return RenameTable(self.new, self.old)


@dataclass(frozen=True)
class AddColumn(Change):
    table: str
    column: m.Column

    def reverse(self) -> Change:
        return DropColumn(self.table, self.column)


@dataclass(frozen=True)
class DropColumn(Change):
    table: str
    column: m.Column

    def reverse(self) -> Change:
        return AddColumn(self.table, self.column)


@dataclass(frozen=True)
class RenameColumn(Change):
    table: str
    old: str
    new: str

    def reverse(self) -> Change:
        return RenameColumn(self.table, self.new, self.old)


@dataclass(frozen=True)
class AlterColumn(Change):
    """Type, default and/or nullability of one column changed."""

    table: str
    old: m.Column
    new: m.Column

    def reverse(self) -> Change:
        return AlterColumn(self.table, self.new, self.old)


@dataclass(frozen=True)
class ChangePrimaryKey(Change):
    """The table's primary key changes columns or name (``None``: the table has none); the names
    are the constraints' (``Table.pkey_name``: PostgreSQL's ``<table>_pkey`` unless declared)."""

    table: str
    old: m.PrimaryKey | None
    new: m.PrimaryKey | None
    old_name: str | None
    new_name: str | None

    def reverse(self) -> Change:
        return ChangePrimaryKey(self.table, self.new, self.old, self.new_name, self.old_name)


@dataclass(frozen=True)
class RenamePrimaryKey(Change):
    """A renamed table's primary key follows it: PostgreSQL keeps a key (and its index) under its
    name on ``ALTER TABLE ... RENAME TO``, but a defaulted name (``Table.pkey_name``) is the
    table's, so ``goods_pkey`` becomes ``items_pkey``. ``table`` is the table's new name."""

    table: str
    old: str
    new: str

    def reverse(self) -> Change:
        return RenamePrimaryKey(self.table, self.new, self.old)


@dataclass(frozen=True)
class AddPartition(Change):
    """A partition added to a partitioned table that stays."""

    table: str
    partition: m.Partition

    def reverse(self) -> Change:
        return DropPartition(self.table, self.partition)


@dataclass(frozen=True)
class DropPartition(Change):
    """A partition dropped with its rows (data loss: it needs the allowance a dropped table needs)."""

    table: str
    partition: m.Partition

    def reverse(self) -> Change:
        return AddPartition(self.table, self.partition)

    def destructive(self, schema: str) -> str | None:
        return f"drop table {schema}.{self.partition.name}"


@dataclass(frozen=True)
class SetLogged(Change):
    """``ALTER TABLE ... SET LOGGED / SET UNLOGGED``: the table is rewritten under an ACCESS EXCLUSIVE lock."""

    table: str
    unlogged: bool

    def reverse(self) -> Change:
        return SetLogged(self.table, not self.unlogged)


@dataclass(frozen=True)
class Reshape(Change):
    """What a table cannot change in place: its partitioning or its parents (refused when planned)."""

    table: str
    what: str
    old: str
    new: str

    def reverse(self) -> Change:
        return Reshape(self.table, self.what, self.new, self.old)


def renames(old: m.Schema, new: m.Schema) -> tuple[list[Change], m.Schema]:
    """The declared renames of tables and columns, and ``old`` with them applied.

    A renamed table whose primary key's name is defaulted keeps the key under its old name in
    PostgreSQL: when the new declaration's key has the new table's default name, the key is
    renamed with it (:class:`RenamePrimaryKey`); otherwise ``old`` names the key as it is (the old
    default, now explicit), so that :class:`ChangePrimaryKey` starts from the name it has."""
    changes: list[Change] = []
    old_tables = {t.name: t for t in old.tables}
    renamed = {t.renamed_from: t.name for t in new.tables if t.renamed_from and t.renamed_from in old_tables
               and t.name not in old_tables}
    new_tables = {t.name: t for t in new.tables}
    for old_name, new_name in renamed.items():
        changes.append(RenameTable(old_name, new_name))
    tables: list[m.Table] = []
    for table in old.tables:
        name = renamed.get(table.name, table.name)
        pk = table.primary_key
        if name != table.name and pk is not None and pk.name is None:
            kept, target = table.pkey_name, f"{name}_pkey"
            follows = new_tables[name].primary_key is not None and new_tables[name].pkey_name == target
            if follows:
                changes.append(RenamePrimaryKey(name, kept, target))
            else:
                pk = pk.model_copy(update={"name": kept})
        table = table.model_copy(update={"name": name, "primary_key": pk})
        if name in new_tables:
            old_cols = {c.name for c in table.columns}
            moves = {c.renamed_from: c.name for c in new_tables[name].columns
                     if c.renamed_from and c.renamed_from in old_cols and c.name not in old_cols}
            changes += [RenameColumn(name, a, b) for a, b in moves.items()]
            columns = tuple(c.model_copy(update={"name": moves.get(c.name, c.name)}) for c in table.columns)
            table = table.model_copy(update={"columns": columns})
        tables.append(table)
    return changes, old.model_copy(update={"tables": tuple(tables)})


def diff_table(old: m.Table, new: m.Table) -> list[Change]:
    """Columns and primary key of one table (``old`` with its renames applied, see
    :func:`renames`); its constraints, triggers, indexes and comments are diffed by their kinds."""
    t = new.name
    changes: list[Change] = []
    old_cols = {c.name: c for c in old.columns}
    for col in new.columns:
        if col.name not in old_cols:
            changes.append(AddColumn(t, col))
        elif not same_column(old_cols[col.name], col):
            changes.append(AlterColumn(t, old_cols[col.name], col))
    new_names = set(new.column_names)
    changes += [DropColumn(t, c) for name, c in old_cols.items() if name not in new_names]

    if old.unlogged != new.unlogged:
        changes.append(SetLogged(t, new.unlogged))
    if (old.partition_by or "") != (new.partition_by or ""):
        changes.append(Reshape(t, "partition_by", old.partition_by or "(not partitioned)",
                               new.partition_by or "(not partitioned)"))
    if old.inherits != new.inherits:
        changes.append(Reshape(t, "inherits", ", ".join(old.inherits) or "(none)", ", ".join(new.inherits) or "(none)"))
    old_parts = {p.name: p for p in old.partitions}
    new_parts = {p.name: p for p in new.partitions}
    for name, part in old_parts.items():
        if name not in new_parts or _bound(new_parts[name]) != _bound(part):
            changes.append(DropPartition(t, part))
    for name, part in new_parts.items():
        if name not in old_parts or _bound(old_parts[name]) != _bound(part):
            changes.append(AddPartition(t, part))

    old_pk, new_pk = _pkey(old), _pkey(new)
    if old_pk != new_pk:
        changes.append(ChangePrimaryKey(t, old.primary_key, new.primary_key,
                                        old_pk[0] if old_pk else None, new_pk[0] if new_pk else None))
    return changes


def _bound(partition: m.Partition) -> str:
    """A bound's spelling folded (case and spaces outside string literals), so a respelled bound is no change."""
    parts = re.split(r"('(?:[^']|'')*')", partition.bound.strip())
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part)
            continue
        text = " ".join(part.upper().split())
        out.append(re.sub(r"\s*([(),])\s*", r"\1", text))
    return "".join(out)


def _pkey(table: m.Table) -> tuple[str, tuple[str, ...], str] | None:
    pk = table.primary_key
    return None if pk is None else (table.pkey_name, pk.columns, pk.deferral_sql)


_MORE_IS_WIDER = frozenset({"timestamp", "timestamptz", "time", "timetz", "interval", "varbit"})
_WIDENING = {("smallint", "integer"), ("smallint", "bigint"), ("integer", "bigint"), ("varchar", "text")}


def is_widening(old: m.SqlType, new: m.SqlType) -> bool:
    """True when every value of ``old`` fits ``new`` unchanged."""
    if (old.in_schema, old.array) != (new.in_schema, new.array) or not (old.builtin and new.builtin):
        return old == new
    if (old.name, new.name) in _WIDENING:
        return True
    if old.name == new.name == "varchar":
        return new.args[0] >= old.args[0]
    if old.name == new.name and old.name in _MORE_IS_WIDER:  # timestamp(3) -> timestamp(6), varbit(8) -> varbit
        return not new.args or (bool(old.args) and new.args[0] >= old.args[0])
    numeric = {"numeric", "decimal"}
    if old.name in numeric and new.name in numeric:
        if not new.args:
            return True
        if not old.args:
            return False
        (op, os_), (np_, ns) = (*old.args, 0)[:2], (*new.args, 0)[:2]
        return ns >= os_ and np_ - ns >= op - os_
    return old == new


def destructive(change: Change, schema: str) -> str | None:
    """The allowance key a destructive change needs (``"drop column walltrack.orders.x"``), else None."""
    if isinstance(change, DropTable):
        return f"drop table {schema}.{change.table.name}"
    if isinstance(change, DropColumn):
        return f"drop column {schema}.{change.table}.{change.column.name}"
    if isinstance(change, AlterColumn) and not is_widening(change.old.type, change.new.type):
        return f"narrow column {schema}.{change.table}.{change.new.name}"
    if isinstance(change, AlterColumn) and change.new.generated is not None and change.old.generated is None:
        return f"drop column {schema}.{change.table}.{change.new.name}"  # its values are replaced by computed ones
    return change.destructive(schema)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class CreateTable(Statement):
    schema: str
    table: m.Table
    if_not_exists: bool = False


@dataclass(frozen=True)
class CreatePartition(Statement):
    """``CREATE TABLE p PARTITION OF parent FOR VALUES ...``: with its parent, or on a new table
    (ACCESS EXCLUSIVE on the parent)."""

    schema: str
    table: str
    partition: m.Partition
    if_not_exists: bool = False


@dataclass(frozen=True)
class AttachPartition(Statement):
    """A partition added to a table that holds data: an empty table shaped like its parent
    (``LIKE ... INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED``), then ``ATTACH PARTITION``,
    which takes SHARE UPDATE EXCLUSIVE on the parent (reads and writes go on) where ``PARTITION OF``
    takes ACCESS EXCLUSIVE; a DEFAULT partition is scanned under ACCESS EXCLUSIVE for rows the new one
    would take. Attached only while it is not a partition yet, so it runs again."""

    schema: str
    table: str
    partition: m.Partition


@dataclass(frozen=True)
class DetachPartition(Statement):
    """``ALTER TABLE parent DETACH PARTITION p CONCURRENTLY`` (PostgreSQL 14+; outside a transaction,
    SHARE UPDATE EXCLUSIVE on the parent), preceded by the partition re-created when it is gone, so a
    second run of the online part finds it to detach (and drops it again)."""

    schema: str
    table: str
    partition: m.Partition
    transactional = False


@dataclass(frozen=True)
class SetLoggedStatement(Statement):
    schema: str
    table: str
    unlogged: bool


@dataclass(frozen=True)
class DropTableStatement(Statement):
    schema: str
    name: str
    if_exists: bool = True
    guarded: bool = False
    """Drop it only while it is a table: its name becomes a view's (see ``view.guarded_drop``)."""


@dataclass(frozen=True)
class RenameTableStatement(Statement):
    schema: str
    old: str
    new: str


@dataclass(frozen=True)
class RenameConstraintStatement(Statement):
    schema: str
    table: str
    old: str
    new: str


@dataclass(frozen=True)
class RenameColumnStatement(Statement):
    schema: str
    table: str
    old: str
    new: str


@dataclass(frozen=True)
class RunSql(Statement):
    """Declared SQL run as part of a migration (``Table.populate``): a data backfill."""

    sql: str
    purpose: str
    why: str | None = None
    """Why a backfill runs here rather than in batches (:func:`orders_schema.kinds.backfill.shape`)."""


@dataclass(frozen=True)
class AddColumnStatement(Statement):
    schema: str
    table: str
    column: m.Column
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropColumnStatement(Statement):
    schema: str
    table: str
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class AlterColumnType(Statement):
    schema: str
    table: str
    name: str
    type: m.SqlType
    collation: str | None = None
    cast: bool = False
    """``USING column::type``: to or from a user type (an enum, a domain), which has no implicit cast."""


@dataclass(frozen=True)
class SetDefault(Statement):
    schema: str
    table: str
    name: str
    default: str | None


@dataclass(frozen=True)
class SetNotNull(Statement):
    schema: str
    table: str
    name: str
    not_null: bool


@dataclass(frozen=True)
class DropExpression(Statement):
    """A generated column becomes a plain one, keeping its values."""

    schema: str
    table: str
    name: str


@dataclass(frozen=True)
class IdentityStatement(Statement):
    """An identity column's change: ``clear`` then ``add`` (``clear`` drops any identity and
    default, so the pair runs again; a :class:`SyncSequence` then moves the sequence past the
    column's values), ``drop``, or ``set`` (ALWAYS / BY DEFAULT and the options, in place; the
    sequence keeps its value)."""

    schema: str
    table: str
    name: str
    action: Literal["clear", "add", "drop", "set"]
    identity: m.Identity | None = None


@dataclass(frozen=True)
class SyncSequence(Statement):
    """Move the sequence behind a column (serial or identity) past the values the column holds."""

    schema: str
    table: str
    name: str


@dataclass(frozen=True)
class SwapPrimaryKey(Statement):
    """Drop the old key and make a unique index built beforehand (``CONCURRENTLY``) the primary
    key, in one statement: a brief ACCESS EXCLUSIVE lock, and the table is never without a key."""

    schema: str
    table: str
    drop: tuple[str, ...]
    name: str
    index: str
    deferral: str = ""
    """`` DEFERRABLE [INITIALLY DEFERRED]`` of the new key."""


def type_sql(t: m.SqlType) -> str:
    """A type as SQL: a built-in upper-case (``NUMERIC(20, 8)``, ``VARCHAR(40)[]``), a user type
    quoted (``app.order_status``, ``"My Type"``)."""
    name = t.name.upper() if t.builtin else qualified(t.in_schema, t.name) if t.in_schema else ident(t.name)
    text = f"{name}({', '.join(str(a) for a in t.args)})" if t.args else name
    return text + "[]" * t.array


def collate_sql(collation: str | None) -> str:
    return "" if collation is None else f" COLLATE {ident(collation)}"


def column_type_sql(col: m.Column) -> str:
    """The column's type as declared; a serial column's pseudo-type (``SERIAL``, ``BIGSERIAL``)."""
    from orders_schema.declare.model import SERIAL_TYPES  # at run time only: the model imports the kinds

    if col.serial and col.integer_type is not None:
        return SERIAL_TYPES[col.integer_type].upper()
    return type_sql(col.type)


def identity_sql(identity: m.Identity) -> str:
    options = options_sql(identity)
    return identity.clause + (f" ({' '.join(options)})" if options else "")


def column_extras_sql(col: m.Column) -> str:
    """What follows a column's type and NULL-ness: its default, identity or generation expression."""
    if col.default is not None:
        return f" DEFAULT {col.default}"
    if col.identity is not None:
        return f" {identity_sql(col.identity)}"
    if col.generated is not None:
        return f" GENERATED ALWAYS AS ({col.generated}) STORED"
    return ""


def _names(names: Iterable[str]) -> str:
    return ", ".join(ident(n) for n in names)


@renders(CreateTable)
def create_table_sql(s: CreateTable) -> str:
    table = s.table
    inline_pk = table.primary_key is not None and len(table.primary_key.columns) == 1 and (
        table.primary_key.name in (None, f"{table.name}_pkey")
    )
    lines: list[str] = []
    for i, col in enumerate(table.columns):
        if col.section:
            if i:
                lines.append("")
            lines.append(f"    {comment(col.section)}")
        lines.append("    " + column_def_sql(table, col, inline_pk) + ",")
    table_constraints: list[str] = []
    if table.primary_key and not inline_pk:
        table_constraints.append(primary_key_sql(table.pkey_name, table.primary_key))
    table_constraints += [check_sql(c) for c in table.checks if c.column is None]
    table_constraints += [foreign_key_sql(s.schema, fk) for fk in table.foreign_keys]
    later = collapsing_uniques(table)  # added by ALTER TABLE after it: see the table kind's create
    table_constraints += [unique_sql(u) for u in table.uniques if u not in later]
    table_constraints += [exclude_sql(x) for x in table.excludes]
    if table_constraints:
        lines.append("")
        lines += [f"    {c}," for c in table_constraints]
    tail = ""
    if table.inherits:
        tail += f" INHERITS ({', '.join(_parent_sql(s.schema, p) for p in table.inherits)})"
    if table.partition_by is not None:
        tail += " " + _partition_key_sql(table)
    kind = "UNLOGGED TABLE" if table.unlogged else "TABLE"
    head = f"CREATE {kind}{' IF NOT EXISTS' if s.if_not_exists else ''} {qualified(s.schema, table.name)} ("
    if not lines:
        return f"{head}){tail};"
    lines[-1] = lines[-1].rstrip(",")
    return head + "\n" + "\n".join(lines) + f"\n){tail};"


def column_def_sql(table: m.Table, col: m.Column, inline_pk: bool) -> str:
    parts = [ident(col.name), column_type_sql(col) + collate_sql(col.collation)]
    is_pk = inline_pk and table.primary_key is not None and table.primary_key.columns == (col.name,)
    if is_pk:
        parts.append("PRIMARY KEY" + table.primary_key.deferral_sql)  # type: ignore[union-attr]
    elif not col.nullable:
        parts.append("NOT NULL")
    text = " ".join(parts) + column_extras_sql(col)
    for check in table.checks:
        if check.column == col.name:
            clause = check_sql(check)
            text = f"{text}\n        {clause}" if len(text) + len(clause) > LINE_LIMIT - 6 else f"{text} {clause}"
    return text


def _parent_sql(schema: str, parent: str) -> str:
    """A parent table as declared (``base`` of the schema, ``other.base``), qualified."""
    owner, _, name = parent.rpartition(".")
    return qualified(owner or schema, name)


def _partition_key_sql(table: m.Table) -> str:
    """``PARTITION BY RANGE (at, (lower(code)))``: a column key quoted, an expression in parentheses."""
    keys = table.partition_keys()
    assert keys is not None  # validated by the model
    parts = []
    for key in keys[1]:
        tree = fragments.parse_expression(key, "partition key")
        parts.append(ident(fragments.column_name(tree)) if isinstance(tree, fragments.exp.Column) else f"({key})")
    return f"PARTITION BY {keys[0]} ({', '.join(parts)})"


def _partition_of(schema: str, table: str, partition: m.Partition, if_not_exists: bool) -> str:
    head = f"CREATE TABLE{' IF NOT EXISTS' if if_not_exists else ''} {qualified(schema, partition.name)}"
    return f"{head} PARTITION OF {qualified(schema, table)} {partition.bound.strip()};"


@renders(CreatePartition)
def create_partition_sql(s: CreatePartition) -> str:
    return _partition_of(s.schema, s.table, s.partition, s.if_not_exists)


@renders(AttachPartition)
def attach_partition_sql(s: AttachPartition) -> str:
    part, parent = qualified(s.schema, s.partition.name), qualified(s.schema, s.table)
    create = (f"CREATE TABLE IF NOT EXISTS {part} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
              "INCLUDING GENERATED);")
    attach = f"ALTER TABLE {parent} ATTACH PARTITION {part} {s.partition.bound.strip()};"
    attached = (f"EXISTS (SELECT FROM pg_catalog.pg_inherits WHERE inhrelid = {_relation(s.schema, s.partition.name)} "
                f"AND inhparent = {_relation(s.schema, s.table)})")
    return create + "\n" + _only_if(f"NOT {attached}", attach)


@renders(DetachPartition)
def detach_partition_sql(s: DetachPartition) -> str:
    part, parent = qualified(s.schema, s.partition.name), qualified(s.schema, s.table)
    exists = _has_relation(s.schema, s.partition.name)
    attached = (f"EXISTS (SELECT FROM pg_catalog.pg_inherits WHERE inhrelid = {_relation(s.schema, s.partition.name)} "
                f"AND inhparent = {_relation(s.schema, s.table)})")
    again = _partition_of(s.schema, s.table, s.partition, if_not_exists=False)
    # apply FINALIZEs a detach an earlier try left pending (live/apply.py) before this file runs
    note = comment("so a re-run works (no IF EXISTS on DETACH): drop what an earlier try detached, re-create (empty) "
                   "what is gone")
    body = (f"\nBEGIN\n    IF {exists} AND NOT {attached} THEN\n        DROP TABLE {part};\n    END IF;\n"
            f"    IF NOT {exists} THEN\n        {again}\n    END IF;\nEND\n")
    return (f"{note}\nDO {dollar_quote(body)};\n"
            f"ALTER TABLE {parent} DETACH PARTITION {part} CONCURRENTLY;")


@renders(SetLoggedStatement)
def set_logged_sql(s: SetLoggedStatement) -> str:
    return f"ALTER TABLE {qualified(s.schema, s.table)} SET {'UNLOGGED' if s.unlogged else 'LOGGED'};"


def _only_if(condition: str, statement: str) -> str:
    """``statement`` in a ``DO`` block that runs it only while ``condition`` holds."""
    body = f"\nBEGIN\n    IF {condition} THEN\n        {statement}\n    END IF;\nEND\n"
    return f"DO {dollar_quote(body)};"


@renders(DropTableStatement)
def drop_table_sql(s: DropTableStatement) -> str:
    drop = f"DROP TABLE{' IF EXISTS' if s.if_exists else ''} {qualified(s.schema, s.name)};"
    return guarded_drop(s.schema, s.name, "r", drop) if s.guarded else drop


def _unless_done(statement: str, old: str, new: str) -> str:
    """A rename in a ``DO`` block that skips it once it has run (the old name gone, the new one
    there): in every other case it runs, so a name that is missing or taken fails as the bare
    statement would, and a version or down script that stopped half-way runs again from the start.
    ``old`` and ``new``: conditions true while each name exists."""
    body = (f"\nBEGIN\n    IF {old}\n       OR NOT {new} THEN\n        {statement}\n    END IF;\nEND\n")
    return f"DO {dollar_quote(body)};"


def _relation(schema: str, name: str) -> str:
    return f"pg_catalog.to_regclass({literal(qualified(schema, name))})"


def _has_relation(schema: str, name: str) -> str:
    return f"({_relation(schema, name)} IS NOT NULL)"


def _has_column(schema: str, table: str, column: str) -> str:
    return (f"EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid = {_relation(schema, table)} "
            f"AND attname = {literal(column)} AND NOT attisdropped)")


def _has_constraint(schema: str, table: str, name: str) -> str:
    return (f"EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = {_relation(schema, table)} "
            f"AND conname = {literal(name)})")


@renders(RenameTableStatement)
def rename_table_sql(s: RenameTableStatement) -> str:
    return _unless_done(f"ALTER TABLE {qualified(s.schema, s.old)} RENAME TO {ident(s.new)};",
                        _has_relation(s.schema, s.old), _has_relation(s.schema, s.new))


@renders(RenameColumnStatement)
def rename_column_sql(s: RenameColumnStatement) -> str:
    return _unless_done(
        f"ALTER TABLE {qualified(s.schema, s.table)} RENAME COLUMN {ident(s.old)} TO {ident(s.new)};",
        _has_column(s.schema, s.table, s.old), _has_column(s.schema, s.table, s.new))


@renders(RenameConstraintStatement)
def rename_constraint_sql(s: RenameConstraintStatement) -> str:
    return _unless_done(
        f"ALTER TABLE {qualified(s.schema, s.table)} RENAME CONSTRAINT {ident(s.old)} TO {ident(s.new)};",
        _has_constraint(s.schema, s.table, s.old), _has_constraint(s.schema, s.table, s.new))


@renders(RunSql)
def run_sql_sql(s: RunSql) -> str:
    why = f"{comment(f'in this transaction, not in batches: {s.why}')}\n" if s.why else ""
    return f"{comment(s.purpose)}\n{why}{terminated(s.sql)}"


def _alter(s: AddColumnStatement | DropColumnStatement | AlterColumnType | SetDefault | SetNotNull
           | DropExpression | IdentityStatement, action: str) -> str:
    return f"ALTER TABLE {qualified(s.schema, s.table)} {action};"


@renders(AddColumnStatement)
def add_column_sql(s: AddColumnStatement) -> str:
    col = s.column
    text = f"ADD COLUMN{' IF NOT EXISTS' if s.if_not_exists else ''} {ident(col.name)} {column_type_sql(col)}"
    text += collate_sql(col.collation)
    if not col.nullable:
        text += " NOT NULL"
    return _alter(s, text + column_extras_sql(col))


@renders(DropColumnStatement)
def drop_column_sql(s: DropColumnStatement) -> str:
    return _alter(s, f"DROP COLUMN{' IF EXISTS' if s.if_exists else ''} {ident(s.name)}")


@renders(AlterColumnType)
def alter_column_type_sql(s: AlterColumnType) -> str:
    using = f" USING {ident(s.name)}::{type_sql(s.type)}" if s.cast else ""
    return _alter(s, f"ALTER COLUMN {ident(s.name)} TYPE {type_sql(s.type)}{collate_sql(s.collation)}{using}")


@renders(SetDefault)
def set_default_sql(s: SetDefault) -> str:
    action = "DROP DEFAULT" if s.default is None else f"SET DEFAULT {s.default}"
    return _alter(s, f"ALTER COLUMN {ident(s.name)} {action}")


@renders(SetNotNull)
def set_not_null_sql(s: SetNotNull) -> str:
    return _alter(s, f"ALTER COLUMN {ident(s.name)} {'SET' if s.not_null else 'DROP'} NOT NULL")


@renders(DropExpression)
def drop_expression_sql(s: DropExpression) -> str:
    return _alter(s, f"ALTER COLUMN {ident(s.name)} DROP EXPRESSION IF EXISTS")


@renders(IdentityStatement)
def identity_statement_sql(s: IdentityStatement) -> str:
    column = f"ALTER COLUMN {ident(s.name)}"
    if s.action == "clear":
        return _alter(s, f"{column} DROP IDENTITY IF EXISTS, {column} DROP DEFAULT")
    if s.action == "drop" or s.identity is None:
        return _alter(s, f"{column} DROP IDENTITY IF EXISTS")
    if s.action == "add":
        return _alter(s, f"{column} ADD {identity_sql(s.identity)}")
    options = " ".join(f"SET {o}" for o in options_sql(s.identity, alter=True))
    return _alter(s, f"{column} SET GENERATED {s.identity.generated} {options}")


@renders(SyncSequence)
def sync_sequence_sql(s: SyncSequence) -> str:
    table, column = qualified(s.schema, s.table), ident(s.name)
    return (f"SELECT setval(pg_get_serial_sequence({literal(table)}, {literal(column)}), max({column})) "
            f"FROM {table} HAVING max({column}) IS NOT NULL;")


@renders(SwapPrimaryKey)
def swap_primary_key_sql(s: SwapPrimaryKey) -> str:
    actions = [f"DROP CONSTRAINT IF EXISTS {ident(name)}" for name in s.drop]
    actions.append(f"ADD CONSTRAINT {ident(s.name)} PRIMARY KEY USING INDEX {ident(s.index)}{s.deferral}")
    return f"ALTER TABLE {qualified(s.schema, s.table)}\n    " + ",\n    ".join(actions) + ";"


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnInfo:
    """A column. ``ordinal`` counts live columns from 1 (dropped columns leave no gap)."""

    name: str
    type: str
    """``format_type(atttypid, atttypmod)``, e.g. ``character varying(20)``."""
    not_null: bool
    default: str | None
    """``pg_get_expr(adbin, adrelid)``, e.g. ``'pending'::character varying``; the generation
    expression for a generated column."""
    ordinal: int
    identity: str = ""
    """``attidentity``: ``a`` (ALWAYS), ``d`` (BY DEFAULT) or empty."""
    generated: str = ""
    """``attgenerated``: ``s`` (STORED), ``v`` (VIRTUAL, PostgreSQL 18) or empty."""
    identity_options: str = ""
    """An identity column's sequence options (``INCREMENT BY 1 MINVALUE 1 ...``); empty for others."""
    collation: str | None = None
    """The column's collation when it is not its type's default (``"C"``), else None."""
    inherited: bool = False
    """Only inherited from a parent (``NOT attislocal``): its parent declares it."""


_T = TypeVar("_T", ColumnInfo, ConstraintInfo, TriggerInfo)


def _find(items: Iterable[_T], name: str) -> _T:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(name)


@dataclass(frozen=True)
class TableInfo:
    """A table with its columns (in ordinal order), constraints and triggers (by name); its
    constraints and triggers are its entries of :attr:`Catalog.constraints` and
    :attr:`Catalog.triggers` (the kinds' fields)."""

    name: str
    columns: tuple[ColumnInfo, ...] = ()
    constraints: tuple[ConstraintInfo, ...] = ()
    triggers: tuple[TriggerInfo, ...] = ()
    partition_by: str | None = None
    """``pg_get_partkeydef``: ``RANGE (at)``; None for a table that is not partitioned."""
    partitions: tuple[tuple[str, str, bool], ...] = ()
    """Its partitions of this schema: (name, ``pg_get_expr(relpartbound)``, itself partitioned), by name."""
    unlogged: bool = False
    inherits: tuple[str, ...] = ()
    """Its parents (not a partition's), in order; one of another schema qualified."""

    def column(self, name: str) -> ColumnInfo:
        return _find(self.columns, name)

    def constraint(self, name: str) -> ConstraintInfo:
        return _find(self.constraints, name)

    def trigger(self, name: str) -> TriggerInfo:
        return _find(self.triggers, name)

    def checks(self) -> tuple[ConstraintInfo, ...]:
        return tuple(c for c in self.constraints if c.kind == "check")


QUERY = """
SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, pg_get_expr(ad.adbin, ad.adrelid) AS default,
       row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)::int AS ordinal,
       a.attidentity::text AS identity, a.attgenerated::text AS generated,
       COALESCE((SELECT format('AS %%s INCREMENT BY %%s MINVALUE %%s MAXVALUE %%s START WITH %%s CACHE %%s%%s',
                               format_type(q.seqtypid, NULL), q.seqincrement, q.seqmin, q.seqmax, q.seqstart,
                               q.seqcache, CASE WHEN q.seqcycle THEN ' CYCLE' ELSE ' NO CYCLE' END)
                 FROM pg_depend dep JOIN pg_sequence q ON q.seqrelid = dep.objid
                 WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
                   AND dep.refobjid = c.oid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'),
                '') AS identity_options,
       CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END AS collation,
       NOT a.attislocal AS inherited,
       pg_get_partkeydef(c.oid) AS partition_by, c.relpersistence = 'u' AS unlogged,
       ARRAY(SELECT ARRAY[p.relname::text, pg_get_expr(p.relpartbound, p.oid), (p.relkind = 'p')::text]
             FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
             WHERE i.inhparent = c.oid AND p.relispartition AND p.relnamespace = c.relnamespace
             ORDER BY p.relname) AS partitions,
       ARRAY(SELECT CASE WHEN p.relnamespace = c.relnamespace THEN p.relname::text
                         ELSE format('%%s.%%s', p.relnamespace::regnamespace, p.relname) END
             FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
             WHERE i.inhrelid = c.oid ORDER BY i.inhseqno) AS inherits
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname, a.attnum"""
"""Every table of the schema with its live columns, one row per column (a table without columns:
one row whose column fields are NULL), its partitioning, partitions (which are not listed as tables
of their own: their columns and what they inherit are their parent's), persistence and parents."""


def _column_text(col: ColumnInfo | None) -> str | None:
    if col is None:
        return None
    text = f"{ident(col.name)} {col.type}{' NOT NULL' if col.not_null else ''}"
    return text + (f" DEFAULT {col.default}" if col.default is not None and not col.generated else "")


def _table_text(table: TableInfo | None) -> str | None:
    if table is None:
        return None
    return "columns: " + ", ".join(str(_column_text(c)) for c in table.columns)


_IDENTITY = {"a": "GENERATED ALWAYS AS IDENTITY", "d": "GENERATED BY DEFAULT AS IDENTITY", "": "(not identity)"}
_GENERATED = {"s": "STORED", "v": "VIRTUAL", "": "(not generated)"}
_COLUMN_ATTRIBUTES: tuple[tuple[str, Callable[[ColumnInfo], str]], ...] = (
    ("type differs", lambda c: c.type),
    ("NOT NULL differs", lambda c: "NOT NULL" if c.not_null else "NULL allowed"),
    ("default differs", lambda c: "(no default)" if c.default is None else c.default),
    ("identity differs", lambda c: _IDENTITY.get(c.identity, c.identity)),
    ("generated differs", lambda c: _GENERATED.get(c.generated, c.generated)),
    ("identity options differ", lambda c: c.identity_options or "(not identity)"),
    ("collation differs", lambda c: c.collation or "(the type's default)"),
)


def compare_shape(s: str, declared: TableInfo, live: TableInfo) -> Iterator[Difference]:
    """Partitioning, partitions (by name, then bound), persistence and parents of one table."""
    where = qualified(s, declared.name)
    if declared.partition_by != live.partition_by:
        yield Difference("table", where, "partitioning differs", declared.partition_by or "(not partitioned)",
                         live.partition_by or "(not partitioned)")
    for name, d, x in pair({p[0]: p for p in declared.partitions}, {p[0]: p for p in live.partitions}):
        if d is None or x is None:
            yield presence("partition", qualified(s, name), None if d is None else f"PARTITION OF {where} {d[1]}",
                           None if x is None else f"PARTITION OF {where} {x[1]}")
        elif d[1:] != x[1:]:
            yield Difference("partition", qualified(s, name), "bound differs", d[1], x[1])
    if declared.unlogged != live.unlogged:
        yield Difference("table", where, "persistence differs", "UNLOGGED" if declared.unlogged else "LOGGED",
                         "UNLOGGED" if live.unlogged else "LOGGED")
    if declared.inherits != live.inherits:
        yield Difference("table", where, "parents differ (INHERITS)", ", ".join(declared.inherits) or "(none)",
                         ", ".join(live.inherits) or "(none)")


def compare_columns(s: str, declared: TableInfo, live: TableInfo) -> Iterator[Difference]:
    """The columns of one table both sides have: each attribute, then their order."""
    for name, d, x in pair({c.name: c for c in declared.columns}, {c.name: c for c in live.columns}):
        where = qualified(s, declared.name, name)
        if d is None or x is None:
            yield presence("column", where, _column_text(d), _column_text(x))
            continue
        for what, render in _COLUMN_ATTRIBUTES:
            if render(d) != render(x):
                yield Difference("column", where, what, render(d), render(x))
    common = {c.name for c in declared.columns} & {c.name for c in live.columns}
    d_order = [c.name for c in declared.columns if c.name in common]
    l_order = [c.name for c in live.columns if c.name in common]
    if d_order != l_order:
        yield Difference(
            "table", qualified(s, declared.name), "column order differs (the columns match; only their order)",
            ", ".join(map(ident, d_order)), ", ".join(map(ident, l_order)),
        )


# -- the kind --------------------------------------------------------------------------------


class TableKind(Kind["m.Table", TableInfo]):
    name = "table"
    rank = 10
    catalog_field = "tables"
    query = QUERY
    create_stage = "own"
    """``plan.create_statements`` creates the tables after the functions their defaults call and
    before every other kind's objects."""

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[m.Table]]:
        return {table.name: Declared(None, table) for table in schema.tables}

    def same(self, a: m.Table, b: m.Table) -> bool:
        """Same columns (:func:`same_column`, in order) and primary key; what a table holds
        besides is its kinds'."""
        return not diff_table(a, b)

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        """Added tables, then each kept table's columns and primary key (:func:`diff_table`), then
        the dropped tables; ``old`` has the declared renames applied (:func:`renames`)."""
        old_tables = {t.name: t for t in old.tables}
        new_tables = {t.name: t for t in new.tables}
        changes: list[Change] = []
        for name, table in new_tables.items():
            if name not in old_tables:
                changes.append(AddTable(table))
            else:
                changes += diff_table(old_tables[name], table)
        changes += [DropTable(t) for name, t in old_tables.items() if name not in new_tables]
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[m.Table]) -> list[Statement]:
        """The table with its columns, primary key, CHECKs and UNIQUEs; its foreign keys are the
        constraint kind's, once every table exists."""
        table = item.obj
        return [CreateTable(schema, table.model_copy(update={"foreign_keys": ()})),
                *(CreatePartition(schema, table.name, p) for p in table.partitions),
                *(AddConstraintStatement(schema, table.name, u) for u in collapsing_uniques(table))]

    def plan(self, ctx: PlanContext) -> Planned:
        """``rename``: the declared renames; ``create``: new tables (bare), new and altered
        columns, the primary keys' changes (see :func:`place_primary_keys`), then new tables'
        foreign keys and indexes; ``last``: the backfills of new and refilled derived tables,
        then the dropped columns and tables; ``online``: the primary keys' index builds and swaps."""
        s = ctx.schema
        out = Planned()
        out.rename += [RenameTableStatement(s, c.old, c.new) for c in ctx.of(RenameTable)]
        out.rename += [RenameColumnStatement(s, c.table, c.old, c.new) for c in ctx.of(RenameColumn)]
        out.rename += [RenameConstraintStatement(s, c.table, c.old, c.new) for c in ctx.of(RenamePrimaryKey)]

        for reshape in ctx.of(Reshape):
            raise Refused(f"table {s}.{reshape.table}: {reshape.what} changes from {reshape.old} to {reshape.new}; "
                          "PostgreSQL cannot change it in place: declare a new table, copy the rows over, then drop "
                          "this one")
        for c in ctx.of(AddTable):
            bare = c.table.model_copy(update={"foreign_keys": (), "indexes": (), "triggers": ()})
            out.create.append(CreateTable(s, bare, if_not_exists=True))
            out.create += [CreatePartition(s, c.table.name, p, if_not_exists=True) for p in c.table.partitions]
            for u in collapsing_uniques(c.table):
                out.create += [DropConstraintStatement(s, c.table.name, u.name, if_exists=True),
                               AddConstraintStatement(s, c.table.name, u)]
        out.create += [AddColumnStatement(s, c.table, c.column, if_not_exists=True) for c in ctx.of(AddColumn)]
        place_partitions(ctx, out)
        pk_tx, pk_online, refill = place_primary_keys(ctx)
        online_keys = keys_built_online(ctx)
        in_old_key = {(c.table, col) for c in ctx.of(ChangePrimaryKey) if c.old for col in c.old.columns}
        after_key: list[Statement] = []
        after_swap: list[Statement] = []
        for alt in ctx.of(AlterColumn):
            tx, not_null = alter_column(ctx, alt)
            out.create += tx
            for statement in not_null:
                # NOT NULL is dropped once the old primary key on the column is gone (online when the
                # new key is swapped in there)
                if alt.new.nullable and (alt.table, alt.new.name) in in_old_key:
                    (after_swap if alt.table in online_keys else after_key).append(statement)
                else:
                    out.create.append(statement)
        out.create += pk_tx + after_key
        out.online += pk_online + after_swap
        for c in ctx.of(AddTable):  # a new table carries its foreign keys and indexes
            table = c.table
            for fk in table.foreign_keys:
                # a key it references that is built online exists only once swapped in, there
                place = out.online if references(s, fk, online_keys) else out.create
                place += [DropConstraintStatement(s, table.name, fk.name, if_exists=True),
                          AddConstraintStatement(s, table.name, fk)]
            out.create += [CreateIndex(s, table.name, idx, if_not_exists=True) for idx in table.indexes]

        # The backfills of new and refilled derived tables, once their triggers exist (they fire
        # them); then what goes away once nothing reads it any more.
        # A new derived table of a shape that batches exactly (kinds/backfill.py) is filled by the
        # online version, in batches, outside the lock its triggers take on the source.
        new_tables = [c.table for c in ctx.of(AddTable)]
        for table in [*new_tables, *refill]:
            if not (table.populate and ctx.old.tables):
                continue
            batched = backfill.shape(ctx.new, ctx.old, table) if table in new_tables else "it is refilled"
            if isinstance(batched, backfill.Shape):
                out.last.append(backfill.BackfillSetup(batched))
                out.online.append(backfill.BatchedBackfill(batched))
            else:
                out.last.append(RunSql(table.populate, f"populate {s}.{table.name}", why=batched))
        out.last += [DropColumnStatement(s, c.table, c.column.name, if_exists=True) for c in ctx.of(DropColumn)]
        views = {v.name for v in ctx.new.views}
        drops = by_dependency(ctx.of(DropTable)[::-1], lambda c: c.table.name, lambda c: set(c.table.inherits))
        for c in reversed(drops):  # a table before the tables it inherits from
            # what an interrupted batched backfill of it left goes first
            if c.table.populate and isinstance(left := backfill.shape(ctx.old, ctx.new, c.table), backfill.Shape):
                out.last.append(backfill.BackfillCleanup(left))
            out.last.append(DropTableStatement(s, c.table.name, guarded=c.table.name in views))
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[TableInfo, ...]:
        columns: dict[str, list[ColumnInfo]] = {}
        tables: dict[str, TableInfo] = {}
        for r in rows:
            r = dict(r)
            name = r.pop("table")
            tables.setdefault(name, TableInfo(
                name, partition_by=r.pop("partition_by"), unlogged=bool(r.pop("unlogged")),
                partitions=tuple((p[0], p[1], p[2] == "true") for p in r.pop("partitions")),
                inherits=tuple(r.pop("inherits"))))
            for key in ("partition_by", "unlogged", "partitions", "inherits"):
                r.pop(key, None)
            cols = columns.setdefault(name, [])
            if r["name"] is not None:
                cols.append(ColumnInfo(**{**r, "inherited": bool(r["inherited"])}))
        return tuple(replace(tables[name], columns=tuple(cols)) for name, cols in sorted(columns.items()))

    def declare(self, schema: m.Schema, stored: Sequence[TableInfo]) -> Declaration:
        """Each table with its columns (any type in ``format_type`` form read as a :class:`SqlType`,
        collations, defaults and generation expressions as ``pg_get_expr`` gives them, identities
        with their options; a serial column is what it is, a ``nextval`` default, its sequence the
        sequence kind's); a table with a column the model cannot declare (a type of the schema no
        kind declares, a collation in a schema, a virtual generated column) is reported whole."""
        from orders_schema.declare.model import Column, DeclarationError, Partition, Table

        tables: list[m.Table] = []
        undeclared: list[Undeclared] = []
        for info in stored:
            problems: list[str] = []
            columns: list[m.Column] = []
            for col in info.columns:
                sql_type = sql_type_of(col.type)
                if sql_type is None:
                    problems.append(f"column {col.name} has type {col.type}")
                elif problem := _column_type_problem(schema, col.name, sql_type):
                    problems.append(problem)
                elif col.generated and col.generated != "s":
                    problems.append(f"column {col.name} is a virtual generated column")
                else:
                    try:
                        columns.append(Column(name=col.name, type=sql_type, nullable=not col.not_null,
                                              default=None if col.generated else col.default,
                                              generated=col.default if col.generated else None,
                                              identity=identity_of(col), collation=collation_of(col.collation)))
                    except (DeclarationError, ValueError) as exc:
                        problems.append(f"column {col.name}: {exc}")
            if not info.columns:
                problems.append("it has no columns")
            problems += [f"partition {p} is itself partitioned (sub-partitions are not declarable yet)"
                         for p, _, sub in info.partitions if sub]
            if not problems:
                try:
                    tables.append(Table(name=info.name, columns=tuple(c for c, i in zip(columns, info.columns,
                                                                                          strict=True)
                                                                      if not i.inherited),
                                        partition_by=info.partition_by, unlogged=info.unlogged,
                                        partitions=tuple(Partition(name=p, bound=b) for p, b, _ in info.partitions),
                                        inherits=info.inherits))
                except DeclarationError as exc:
                    problems.append(str(exc))
            if problems:
                undeclared.append(Undeclared(self.name, info.name, "; ".join(problems)))
        tables = by_dependency(tables, lambda t: t.name, lambda t: set(t.inherits))  # parents first
        return Declaration(schema.model_copy(update={"tables": (*schema.tables, *tables)}), tuple(undeclared))

    def compare(self, schema: str, declared: Sequence[TableInfo], live: Sequence[TableInfo]) -> Iterator[Difference]:
        for name, d, x in pair({t.name: t for t in declared}, {t.name: t for t in live}):
            if d is None or x is None:
                yield presence("table", qualified(schema, name), _table_text(d), _table_text(x))
            else:
                yield from compare_columns(schema, d, x)
                yield from compare_shape(schema, d, x)


def alter_column(ctx: PlanContext, alt: AlterColumn) -> tuple[list[Statement], list[Statement]]:
    """One changed column, in an order PostgreSQL accepts: a generated column whose expression
    changes (or a plain column that becomes generated) is dropped and added again (its constraints
    and indexes re-created, :func:`_rebuilt_with`; PostgreSQL before 17 cannot change the
    expression in place, and the column moves to the end of the table); otherwise the identity
    dropped, the generation expression dropped, the type, the default (a serial column's sequence
    created or dropped), NOT NULL, then the identity added or changed. Returns (the statements, the
    NOT NULL change), which the caller places: dropped after the old primary key on the column."""
    s, t, old, new = ctx.schema, alt.table, alt.old, alt.new
    name = new.name
    if new.generated is not None and normal(new.generated) != normal(old.generated):
        return [DropColumnStatement(s, t, name, if_exists=True), AddColumnStatement(s, t, new, if_not_exists=True),
                *_rebuilt_with(ctx, t, name)], []
    tx: list[Statement] = []
    if old.identity is not None and new.identity is None:
        tx.append(IdentityStatement(s, t, name, "drop"))
    if old.generated is not None and new.generated is None:
        tx.append(DropExpression(s, t, name))
    if old.type != new.type or old.collation != new.collation:
        cast = old.type != new.type and not (old.type.builtin and new.type.builtin)
        tx.append(AlterColumnType(s, t, name, new.type, new.collation, cast))
    serial_seq = new.serial_sequence(t)
    adds_identity = new.identity is not None and old.identity is None  # its statement drops any default
    unserial = [DropSequenceStatement(s, old.serial_sequence(t))] if old.serial and not new.serial else []
    if new.serial and not old.serial and new.integer_type is not None:
        tx += [CreateSequence(s, seqkind.Sequence(name=serial_seq, data_type=new.integer_type), if_not_exists=True),
               SequenceOwnedBy(s, serial_seq, (t, name)),
               SetDefault(s, t, name, f"nextval({literal(qualified(s, serial_seq))}::regclass)"),
               SyncSequence(s, t, name)]
    elif not adds_identity and (normal(old.default) != normal(new.default) or unserial):
        tx += [SetDefault(s, t, name, new.default), *unserial]
    not_null: list[Statement] = [SetNotNull(s, t, name, not new.nullable)] if old.nullable != new.nullable else []
    if adds_identity:  # an identity needs NOT NULL first
        tx += not_null
        not_null = []  # a serial's sequence goes before the identity's, which may take its name
        tx += [IdentityStatement(s, t, name, "clear"), *unserial, IdentityStatement(s, t, name, "add", new.identity),
               SyncSequence(s, t, name)]
    elif new.identity is not None and new.identity != old.identity:
        tx.append(IdentityStatement(s, t, name, "set", new.identity))
    return tx, not_null


def _rebuilt_with(ctx: PlanContext, t: str, column: str) -> list[Statement]:
    """What a dropped and re-added column took with it: the table's CHECK, UNIQUE, EXCLUDE,
    foreign key constraints and indexes on it, added again (each re-runnable)."""
    table = next(x for x in ctx.new.tables if x.name == t)
    out: list[Statement] = []
    constraints: list[m.Check | m.Unique | m.Exclude | m.ForeignKey] = []
    constraints += [c for c in table.checks
                    if column in fragments.referenced_columns(fragments.parse_expression(c.expression, c.name))]
    constraints += [u for u in table.uniques if column in u.columns]
    constraints += [x for x in table.excludes if column in x.referenced_columns()]
    constraints += [f for f in table.foreign_keys if column in f.columns]
    for con in constraints:
        out += [DropConstraintStatement(ctx.schema, t, con.name, if_exists=True),
                AddConstraintStatement(ctx.schema, t, con)]
    out += [CreateIndex(ctx.schema, t, idx, if_not_exists=True) for idx in table.indexes
            if column in idx.referenced_columns()]
    return out


_IDENTITY_OPTIONS = re.compile(
    r"AS (?P<type>\w+) INCREMENT BY (?P<increment>-?\d+) MINVALUE (?P<minvalue>-?\d+) MAXVALUE (?P<maxvalue>-?\d+) "
    r"START WITH (?P<start>-?\d+) CACHE (?P<cache>\d+) (?P<cycle>CYCLE|NO CYCLE)"
)


def identity_of(col: ColumnInfo) -> m.Identity | None:
    """An identity column's stored kind and options as an :class:`~orders_schema.declare.model.Identity`."""
    from orders_schema.declare.model import Identity

    match = _IDENTITY_OPTIONS.fullmatch(col.identity_options) if col.identity else None
    if match is None:
        return None
    options = seqkind.declared_options(
        match["type"], int(match["increment"]), int(match["minvalue"]), int(match["maxvalue"]), int(match["start"]),
        int(match["cache"]), match["cycle"] == "CYCLE")
    return Identity(generated="ALWAYS" if col.identity == "a" else "BY DEFAULT", **options)


def sql_type_of(stored: str) -> m.SqlType | None:
    """A column type in ``format_type`` form (``character varying(20)``, ``numeric(20,8)``,
    ``timestamp(3) with time zone``, ``shop.status[]``, ``ext.citext``) as the model declares it
    (:func:`~orders_schema.declare.sqltype.sql_type`); None when it cannot be read back (``interval
    second(3)``, ``"char"``)."""
    from orders_schema.declare.model import DeclarationError
    from orders_schema.declare.sqltype import BUILTIN_TYPES, sql_type

    if stored.startswith('"') and stored.partition("[")[0].strip('"').lower() in BUILTIN_TYPES:
        return None  # "char" (the one-byte type) and the like: not the built-in of that name
    try:
        return sql_type(stored)
    except DeclarationError:
        return None


def collation_of(stored: str | None) -> str | None:
    """A column collation as ``regcollation`` prints it (``"C"``, ``ucs_basic``) as the model
    declares it (a name); raises ValueError for one in a schema (``public.mine``), which the model
    cannot name."""
    if stored is None:
        return None
    match = re.fullmatch(r'"((?:[^"]|"")+)"|([a-z_][a-z0-9_$]*)', stored)
    if match is None:
        raise ValueError(f"collation {stored} is not a pg_catalog collation")
    return match[1].replace('""', '"') if match[1] is not None else match[2]


def _column_type_problem(schema: m.Schema, name: str, sql_type: m.SqlType) -> str | None:
    """Why a column's type cannot be declared: a type of the declared schema that no kind declared
    (a range type, a base type)."""
    own = {e.name for e in schema.enums} | {d.name for d in schema.domains} | {c.name for c in schema.composites}
    own |= {r.name for r in schema.ranges}
    if sql_type.in_schema == schema.name and sql_type.name not in own:
        return f"column {name} has type {qualified(schema.name, sql_type.name)}, a type not declarable yet"
    return None


def place_partitions(ctx: PlanContext, out: Planned) -> None:
    """Partitions of tables that stay, and their persistence. An added partition is attached
    (:class:`AttachPartition`: SHARE UPDATE EXCLUSIVE on the parent, not the ACCESS EXCLUSIVE of
    ``PARTITION OF``); a dropped one is detached ``CONCURRENTLY`` in the online part, then dropped,
    unless its table has a DEFAULT partition (PostgreSQL then refuses CONCURRENTLY: dropped in the
    transaction, a brief ACCESS EXCLUSIVE on the parent) or it comes back with another bound (dropped
    before it is attached again)."""
    s = ctx.schema
    old_tables = {t.name: t for t in ctx.old.tables}
    added = {(c.table, c.partition.name) for c in ctx.of(AddPartition)}
    for c in ctx.of(DropPartition):
        old = old_tables.get(ctx.was.get(c.table, c.table))
        has_default = old is not None and any(p.is_default for p in old.partitions)
        if (c.table, c.partition.name) in added:
            out.drop.append(DropTableStatement(s, c.partition.name))
        elif has_default or c.partition.is_default:
            out.last.append(DropTableStatement(s, c.partition.name))
        else:
            out.online += [DetachPartition(s, c.table, c.partition), DropTableStatement(s, c.partition.name)]
    out.create += [AttachPartition(s, c.table, c.partition) for c in ctx.of(AddPartition)]
    out.create += [SetLoggedStatement(s, c.table, c.unlogged) for c in ctx.of(SetLogged)]


def keys_built_online(ctx: PlanContext) -> set[str]:
    """Tables whose new primary key is built online and swapped in there (:func:`place_primary_keys`):
    what needs that key (a foreign key referencing it) goes online after the swap."""
    new_by_name = {t.name: t for t in ctx.new.tables}
    return {c.table for c in ctx.of(ChangePrimaryKey)
            if c.new is not None and c.new_name is not None and new_by_name[c.table].partition_by is None
            and not (c.old and not set(c.old.columns) <= set(c.new.columns) and new_by_name[c.table].populate)}


def references(schema: str, fk: m.ForeignKey, tables: set[str]) -> bool:
    """Whether ``fk`` references one of ``tables`` of ``schema``."""
    ref_schema, _, ref_name = fk.ref_table.rpartition(".")
    return ref_schema in ("", schema) and ref_name in tables


def place_primary_keys(ctx: PlanContext) -> tuple[list[Statement], list[Statement], list[m.Table]]:
    """A primary key changes after the columns it may need exist, without blocking writes: its
    unique index is built CONCURRENTLY (online file) and swapped in by one brief ALTER TABLE,
    so the table always has a key. A key that loses columns may find duplicates: a derived
    table (one that declares ``populate``) is then emptied and refilled in the transaction
    instead; any other table keeps its rows, and the index build fails if they collide.
    Returns (transactional, online, tables to refill)."""
    from orders_schema.declare.model import Index  # at run time only: the model imports the kinds

    s = ctx.schema
    tx: list[Statement] = []
    online: list[Statement] = []
    refill: list[m.Table] = []
    new_by_name = {t.name: t for t in ctx.new.tables}
    for cpk in ctx.of(ChangePrimaryKey):
        t = cpk.table
        drop = tuple(dict.fromkeys(n for n in (cpk.old_name, cpk.new_name) if n))
        table = new_by_name[t]
        if cpk.new is None or cpk.new_name is None:
            tx += [DropConstraintStatement(s, t, name, if_exists=True) for name in drop]
        elif table.partition_by is not None:  # no index is built CONCURRENTLY on a partitioned table
            tx += [DropConstraintStatement(s, t, name, if_exists=True) for name in drop]
            tx.append(AddConstraintStatement(s, t, cpk.new, name=cpk.new_name))
        elif cpk.old and not set(cpk.old.columns) <= set(cpk.new.columns) and table.populate:
            tx += [DropConstraintStatement(s, t, name, if_exists=True) for name in drop]
            tx += [RunSql(f"DELETE FROM {qualified(s, t)}", f"empty {s}.{t} for its new key"),
                   AddConstraintStatement(s, t, cpk.new, name=cpk.new_name)]
            refill.append(table)
        else:
            staging = f"{cpk.new_name}_new"
            pk_index = Index(name=staging, columns=cpk.new.columns, unique=True)
            online += [CreateIndex(s, t, pk_index, concurrently=True, if_not_exists=True),
                       SwapPrimaryKey(s, t, drop, cpk.new_name, staging, cpk.new.deferral_sql)]
    return tx, online, refill


TABLE = TableKind()
