"""The table-constraint kind: CHECK, FOREIGN KEY and UNIQUE constraints.

* declaration: :class:`~orders_schema.declare.model.Check`, :class:`~orders_schema.declare.model.ForeignKey`
  and :class:`~orders_schema.declare.model.Unique`, fields of their table, in the model;
* identity: ``(table, name)`` (a constraint's name is unique per table);
* sameness: a CHECK by its normalised expression (whether it is written on a column does not
  matter), a foreign key and a UNIQUE constraint attribute for attribute;
* changes: :class:`AddConstraint` and :class:`DropConstraint` (a changed constraint is dropped and
  added), table by table: its CHECKs, then its foreign keys, then its UNIQUE constraints;
* statements: ``ALTER TABLE ... ADD CONSTRAINT`` (``NOT VALID`` on a table that already holds data,
  but UNIQUE, which has none, then ``VALIDATE CONSTRAINT`` online, which blocks no writer), always
  after ``DROP CONSTRAINT IF EXISTS`` (there is no ADD CONSTRAINT IF NOT EXISTS) so a version
  applies a second time; dropped before the renames. A new table carries its constraints: CHECK
  and UNIQUE in its CREATE TABLE, foreign keys once every new table exists (the table kind's plan);
* stored form: ``pg_get_constraintdef`` of every table constraint, the primary key and EXCLUDE
  constraints included (NOT NULL is a column property); CHECKs are matched by meaning, not name
  (:func:`compare_checks`), the others by name.

The primary key's changes and their placement are the table kind's (``ChangePrimaryKey`` and
``place_primary_keys`` in :mod:`orders_schema.kinds.table`); its statements are this module's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union

from orders_schema.declare import fragments
from orders_schema.declare.quoting import ident, qualified
from orders_schema.kinds.base import (
    Declaration,
    Declared,
    Kind,
    PlanContext,
    Planned,
    Undeclared,
    on_a_partition,
    uncommented,
)
from orders_schema.live import catalog_text as ct
from orders_schema.live.difference import Difference, array_casts_per_element, definition, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

TableConstraint = Union["m.Check", "m.ForeignKey", "m.Unique", "m.Exclude"]

# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddConstraint(Change):
    table: str
    constraint: m.Check | m.ForeignKey | m.Unique | m.Exclude

    def reverse(self) -> Change:
        return DropConstraint(self.table, self.constraint)


@dataclass(frozen=True)
class DropConstraint(Change):
    table: str
    constraint: m.Check | m.ForeignKey | m.Unique | m.Exclude

    def reverse(self) -> Change:
        return AddConstraint(self.table, self.constraint)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class AddConstraintStatement(Statement):
    schema: str
    table: str
    constraint: m.Check | m.ForeignKey | m.Unique | m.Exclude | m.PrimaryKey
    not_valid: bool = False
    name: str | None = None
    """Needed for a PrimaryKey (its name lives on the table)."""


@dataclass(frozen=True)
class ValidateConstraint(Statement):
    schema: str
    table: str
    name: str


@dataclass(frozen=True)
class DropConstraintStatement(Statement):
    schema: str
    table: str
    name: str
    if_exists: bool = False


def names_sql(names: Iterable[str]) -> str:
    return ", ".join(ident(n) for n in names)


def check_sql(check: m.Check) -> str:
    return f"CONSTRAINT {ident(check.name)} CHECK ({check.expression}){' NO INHERIT' if check.no_inherit else ''}"


def foreign_key_sql(schema: str, fk: m.ForeignKey) -> str:
    ref_schema, _, ref_name = fk.ref_table.rpartition(".")
    target = qualified(ref_schema or schema, ref_name)
    text = (
        f"CONSTRAINT {ident(fk.name)} FOREIGN KEY ({names_sql(fk.columns)}) "
        f"REFERENCES {target}({names_sql(fk.ref_columns)})"
    )
    if fk.match != "SIMPLE":
        text += f" MATCH {fk.match}"
    if fk.on_delete != "NO ACTION":
        text += f" ON DELETE {fk.on_delete}"
    if fk.on_update != "NO ACTION":
        text += f" ON UPDATE {fk.on_update}"
    return text + fk.deferral_sql


def unique_sql(unique: m.Unique) -> str:
    nulls = "" if unique.nulls_distinct else " NULLS NOT DISTINCT"
    return f"CONSTRAINT {ident(unique.name)} UNIQUE{nulls} ({names_sql(unique.columns)}){unique.deferral_sql}"


def primary_key_sql(name: str, pk: m.PrimaryKey) -> str:
    return f"CONSTRAINT {ident(name)} PRIMARY KEY ({names_sql(pk.columns)}){pk.deferral_sql}"


def element_sql(expression: str, column: str | None) -> str:
    """A key of an index or exclusion constraint: a column's name quoted, an expression in parentheses."""
    return ident(column) if column is not None else f"({expression})"


def exclude_sql(ex: m.Exclude) -> str:
    elements = ", ".join(f"{element_sql(e.expression, e.column)} WITH {e.operator}" for e in ex.elements)
    text = f"CONSTRAINT {ident(ex.name)} EXCLUDE USING {ex.using} ({elements})"
    if ex.include:
        text += f" INCLUDE ({names_sql(ex.include)})"
    if ex.where is not None:
        text += f" WHERE ({ex.where})"
    return text + ex.deferral_sql


def collapsing_uniques(table: m.Table) -> tuple[m.Unique, ...]:
    """The UNIQUE constraints on the same columns as the primary key or an earlier UNIQUE: in one
    CREATE TABLE PostgreSQL keeps only the first of such index constraints (under the later one's
    name when the first is unnamed), so these are added by ``ALTER TABLE`` once the table exists."""
    seen = [table.primary_key.columns] if table.primary_key is not None else []
    out = []
    for unique in table.uniques:
        if unique.columns in seen:
            out.append(unique)
        seen.append(unique.columns)
    return tuple(out)


@renders(AddConstraintStatement)
def add_constraint_sql(s: AddConstraintStatement) -> str:
    c = s.constraint
    if c.kind == "check":
        body = check_sql(c)  # type: ignore[arg-type]
    elif c.kind == "foreign key":
        body = foreign_key_sql(s.schema, c)  # type: ignore[arg-type]
    elif c.kind == "unique":
        body = unique_sql(c)  # type: ignore[arg-type]
    elif c.kind == "exclusion":
        body = exclude_sql(c)  # type: ignore[arg-type]
    else:
        body = primary_key_sql(s.name or "", c)  # type: ignore[arg-type]
    suffix = " NOT VALID" if s.not_valid else ""
    return f"ALTER TABLE {qualified(s.schema, s.table)}\n    ADD {body}{suffix};"


@renders(ValidateConstraint)
def validate_constraint_sql(s: ValidateConstraint) -> str:
    return f"ALTER TABLE {qualified(s.schema, s.table)} VALIDATE CONSTRAINT {ident(s.name)};"


@renders(DropConstraintStatement)
def drop_constraint_sql(s: DropConstraintStatement) -> str:
    exists = " IF EXISTS" if s.if_exists else ""
    return f"ALTER TABLE {qualified(s.schema, s.table)} DROP CONSTRAINT{exists} {ident(s.name)};"


# -- stored form -----------------------------------------------------------------------------

ConstraintKind = Literal["check", "foreign key", "unique", "primary key", "exclusion"]
CONSTRAINT_KINDS: dict[str, ConstraintKind] = {
    "c": "check", "f": "foreign key", "u": "unique", "p": "primary key", "x": "exclusion",
}
_NOT_VALID = " NOT VALID"


@dataclass(frozen=True)
class ConstraintInfo:
    """A table constraint (NOT NULL is a column property here, on every PostgreSQL version)."""

    name: str
    kind: ConstraintKind
    definition: str
    """``pg_get_constraintdef(oid)``, e.g. ``CHECK (((side)::text = ANY (...)))``."""
    validated: bool
    columns: tuple[str, ...] = ()
    """The constrained columns (``conkey``), in key order."""
    table: str = ""
    """The table it constrains."""

    @property
    def body(self) -> str:
        """The definition without the `` NOT VALID`` that PostgreSQL appends while unvalidated."""
        if not self.validated and self.definition.endswith(_NOT_VALID):
            return self.definition[: -len(_NOT_VALID)]
        return self.definition

    @property
    def meaning(self) -> str:
        """The body with its array casts in one form, as comparisons read it
        (:func:`~orders_schema.live.difference.array_casts_per_element`)."""
        return array_casts_per_element(self.body)


QUERY = """
SELECT c.relname AS table, k.conname AS name, k.contype::text AS kind,
       pg_get_constraintdef(k.oid) AS definition, k.convalidated AS validated,
       ARRAY(SELECT a.attname::text
             FROM unnest(k.conkey) WITH ORDINALITY u(attnum, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
             ORDER BY u.i) AS columns
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND k.contype IN ('c', 'f', 'u', 'p', 'x')
  AND k.conparentid = 0 AND k.conislocal AND NOT (c.relispartition AND k.coninhcount > 0)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname, k.conname"""


# -- comparison ------------------------------------------------------------------------------


def compare_constraint(where: str, declared: ConstraintInfo, live: ConstraintInfo) -> list[Difference]:
    if declared.kind != live.kind or declared.meaning != live.meaning:
        return [Difference(declared.kind, where, "definition differs", declared.definition, live.definition)]
    if declared.validated != live.validated:
        return [Difference(declared.kind, where, "validation differs", _valid(declared), _valid(live))]
    return []


def _valid(con: ConstraintInfo) -> str:
    return "validated" if con.validated else "NOT VALID (rows present before it was added were never checked)"


def _check_text(con: ConstraintInfo) -> str:
    return f"{ident(con.name)} {con.definition}"


def compare_checks(
    s: str, table: str, declared: Sequence[ConstraintInfo], live: Sequence[ConstraintInfo]
) -> list[Difference]:
    """Match CHECK constraints by meaning, in four passes: same name and definition; same
    definition under another name (a rename); same name, other definition; and the only declared
    and the only live check left on the same columns (renamed and changed). The rest is missing
    or extra."""
    d_left, l_left = list(declared), list(live)
    out: list[Difference] = []

    def where(con: ConstraintInfo) -> str:
        return qualified(s, table, con.name)

    def alone_on_same_columns(d: ConstraintInfo, x: ConstraintInfo) -> bool:
        cols = set(d.columns)
        return (set(x.columns) == cols and sum(set(o.columns) == cols for o in d_left) == 1
                and sum(set(o.columns) == cols for o in l_left) == 1)

    for d, x in _take(d_left, l_left, lambda d, x: d.name == x.name and d.meaning == x.meaning):
        out += compare_constraint(where(d), d, x)
    for d, x in _take(d_left, l_left, lambda d, x: d.meaning == x.meaning):
        what = f"renamed to {ident(x.name)} (same definition)"
        out.append(Difference("check", where(d), what, _check_text(d), _check_text(x)))
        out += compare_constraint(where(d), d, x)
    for d, x in _take(d_left, l_left, lambda d, x: d.name == x.name):
        out += compare_constraint(where(d), d, x)
    for d, x in _take(d_left, l_left, alone_on_same_columns):
        what = f"renamed to {ident(x.name)} and definition differs"
        out.append(Difference("check", where(d), what, _check_text(d), _check_text(x)))
    out += [Difference("check", where(d), "missing", _check_text(d), None) for d in d_left]
    out += [Difference("check", where(x), "extra", None, _check_text(x)) for x in l_left]
    return out


def _take(
    declared: list[ConstraintInfo], live: list[ConstraintInfo],
    same: Callable[[ConstraintInfo, ConstraintInfo], bool],
) -> list[tuple[ConstraintInfo, ConstraintInfo]]:
    """Remove and return the pairs ``same`` matches (each declared check with the first live one)."""
    pairs = []
    for d in list(declared):
        x = next((x for x in live if same(d, x)), None)
        if x is not None:
            declared.remove(d)
            live.remove(x)
            pairs.append((d, x))
    return pairs


def compare_others(s: str, table: str, declared: Sequence[ConstraintInfo],
                   live: Sequence[ConstraintInfo]) -> Iterator[Difference]:
    """PRIMARY KEY, UNIQUE, FOREIGN KEY and EXCLUDE constraints, matched by name."""
    for name, d, x in pair({c.name: c for c in declared}, {c.name: c for c in live}):
        where = qualified(s, table, name)
        if d is None or x is None:
            kind = d.kind if d is not None else x.kind if x is not None else ""
            yield presence(kind, where, definition(d), definition(x))
        else:
            yield from compare_constraint(where, d, x)


# -- the kind --------------------------------------------------------------------------------


def _groups(table: m.Table) -> tuple[tuple[TableConstraint, ...], ...]:
    return (table.checks, table.foreign_keys, table.uniques, table.excludes)


class TableConstraintKind(Kind[TableConstraint, ConstraintInfo]):
    name = "constraint"
    rank = 17
    catalog_field = "constraints"
    query = QUERY
    create_stage = "after_tables"
    of_tables = True

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[TableConstraint]]:
        return {(table.name, c.name): Declared(table.name, c)
                for table in schema.tables for group in _groups(table) for c in group}

    def same(self, a: TableConstraint, b: TableConstraint) -> bool:
        if a.kind == b.kind == "check":
            return (fragments.normal(a.expression) == fragments.normal(b.expression)  # type: ignore[union-attr]
                    and a.no_inherit == b.no_inherit)  # type: ignore[union-attr]
        return bool(uncommented(a) == uncommented(b))

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        """Table by table (in ``new``'s order), CHECKs then foreign keys then UNIQUEs; in each, the
        added and changed ones in their new order, then the dropped ones in their old order."""
        old_tables = {t.name: t for t in old.tables}
        changes: list[Change] = []
        for table in new.tables:
            if table.name not in old_tables:
                continue  # a new table carries its constraints
            for before, after in zip(_groups(old_tables[table.name]), _groups(table), strict=True):
                old_by = {c.name: c for c in before}
                new_by = {c.name: c for c in after}
                for name, c in new_by.items():
                    if name not in old_by:
                        changes.append(AddConstraint(table.name, c))
                    elif not self.same(old_by[name], c):
                        changes += [DropConstraint(table.name, old_by[name]), AddConstraint(table.name, c)]
                changes += [DropConstraint(table.name, c) for name, c in old_by.items() if name not in new_by]
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[TableConstraint]) -> list[Statement]:
        """A foreign key once every table exists; CHECK, UNIQUE and EXCLUDE are in their CREATE
        TABLE (a UNIQUE that would collapse into another: the table kind's, :func:`collapsing_uniques`)."""
        if item.obj.kind != "foreign key":
            return []
        return [AddConstraintStatement(schema, str(item.owner), item.obj)]

    def plan(self, ctx: PlanContext) -> Planned:
        """Drops before the renames; adds with the tables (NOT VALID on a table with rows, then
        VALIDATE online). A CHECK replaced by another of a new name (a table that gains a CHECK
        validated online and loses one) is dropped online after the VALIDATEs, so that the rows
        are always under one validated rule; unless the table changes shape (the old CHECK may
        read a column that goes)."""
        s = ctx.schema
        out = Planned()
        added = {(c.table, c.constraint.name) for c in ctx.of(AddConstraint)}
        replacing = {c.table for c in ctx.of(AddConstraint) if c.constraint.kind == "check"
                     and c.table in ctx.existing and c.table not in ctx.reshaped}
        later = [c for c in ctx.of(DropConstraint) if c.constraint.kind == "check" and c.table in replacing
                 and (c.table, c.constraint.name) not in added]
        out.drop += [DropConstraintStatement(s, ctx.was.get(c.table, c.table), c.constraint.name, if_exists=True)
                     for c in ctx.of(DropConstraint) if c not in later]
        from orders_schema.kinds.table import keys_built_online, references  # the table kind imports this one

        online_keys = keys_built_online(ctx)
        # UNIQUEs first: a foreign key added in the same version may reference one
        adds = sorted(ctx.of(AddConstraint), key=lambda c: c.constraint.kind == "foreign key")
        # PostgreSQL before 18 adds no NOT VALID foreign key to a partitioned table: validated as added
        partitioned = {t.name for t in ctx.new.tables if t.partition_by is not None}
        for con in adds:
            on_existing = con.table in ctx.existing and (con.constraint.kind == "check" or (
                con.constraint.kind == "foreign key" and con.table not in partitioned))
            statements = [
                DropConstraintStatement(s, con.table, con.constraint.name, if_exists=True),
                AddConstraintStatement(s, con.table, con.constraint, not_valid=on_existing),
            ]
            # a foreign key on a key built online is added there, once the key is swapped in
            online = con.constraint.kind == "foreign key" and references(s, con.constraint, online_keys)
            (out.online if online else out.create).extend(statements)
            if on_existing:
                out.online.append(ValidateConstraint(s, con.table, con.constraint.name))
        out.online += [DropConstraintStatement(s, c.table, c.constraint.name, if_exists=True) for c in later]
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[ConstraintInfo, ...]:
        return tuple(ConstraintInfo(**{**r, "kind": CONSTRAINT_KINDS[r["kind"]], "columns": tuple(r["columns"])})
                     for r in rows)

    def compare(
        self, schema: str, declared: Sequence[ConstraintInfo], live: Sequence[ConstraintInfo]
    ) -> Iterator[Difference]:
        for table in sorted({c.table for c in declared} | {c.table for c in live}):
            d = [c for c in declared if c.table == table]
            x = [c for c in live if c.table == table]
            yield from compare_checks(schema, table, [c for c in d if c.kind == "check"],
                                      [c for c in x if c.kind == "check"])
            yield from compare_others(schema, table, [c for c in d if c.kind != "check"],
                                      [c for c in x if c.kind != "check"])

    def declare(self, schema: m.Schema, stored: Sequence[ConstraintInfo]) -> Declaration:
        """The primary key, CHECKs, foreign keys and UNIQUEs of the tables declared so far (a table
        reported as not declarable carries its constraints); what the model lacks (EXCLUDE,
        INCLUDE on a key, ON DELETE SET NULL with columns) is reported."""
        from orders_schema.declare.model import DeclarationError

        tables = {t.name: t for t in schema.tables}
        parts: dict[str, dict[str, list[Any]]] = {}
        undeclared: list[Undeclared] = []
        for con in stored:
            if con.table not in tables:
                if found_on := on_a_partition(schema, con.kind, con.table, con.name):
                    undeclared.append(found_on)
                continue
            try:
                declared = declared_constraint(schema.name, con)
            except DeclarationError as exc:
                declared = str(exc)
            ref_table = None if isinstance(declared, str) else getattr(declared, "ref_table", None)
            if isinstance(ref_table, str):
                ref_schema, _, ref = ref_table.rpartition(".")
                if ref_schema in ("", schema.name) and ref not in tables:  # that table was reported
                    declared = f"it references {ref}, a table not declared"
            if isinstance(declared, str):
                undeclared.append(Undeclared(con.kind, f"{con.table}.{con.name}", declared))
                continue
            field = {"primary key": "primary_key", "check": "checks", "foreign key": "foreign_keys",
                     "unique": "uniques"}[declared.kind]
            parts.setdefault(con.table, {}).setdefault(field, []).append(declared)
        out: list[m.Table] = []
        for table in schema.tables:
            found = parts.get(table.name, {})
            update: dict[str, Any] = {f: tuple(v) for f, v in found.items() if f != "primary_key"}
            if "primary_key" in found:
                update["primary_key"] = found["primary_key"][0]
            try:
                out.append(table.replace(**update) if update else table)
            except DeclarationError as exc:
                undeclared.append(Undeclared("table", table.name, str(exc)))
        return Declaration(schema.model_copy(update={"tables": tuple(out)}), tuple(undeclared))


_ACTION = r"RESTRICT|CASCADE|SET NULL|SET DEFAULT"
_DEFERRAL = r"(?P<deferrable> DEFERRABLE)?(?P<deferred> INITIALLY DEFERRED)?"
_FK = re.compile(
    r"^FOREIGN KEY \((?P<cols>.+?)\) REFERENCES (?P<ref>.+?)\((?P<refcols>.+?)\)(?P<full> MATCH FULL)?"
    rf"(?: ON UPDATE (?P<on_update>{_ACTION}))?(?: ON DELETE (?P<on_delete>{_ACTION}))?{_DEFERRAL}$"
)


def _deferral(match: re.Match[str]) -> dict[str, bool]:
    return {"deferrable": bool(match["deferrable"]), "initially_deferred": bool(match["deferred"])}


def declared_constraint(schema: str, con: ConstraintInfo) -> m.Check | m.ForeignKey | m.Unique | m.PrimaryKey | str:
    """One stored constraint as the model declares it, or why it cannot be (a sentence)."""
    from orders_schema.declare.model import Check, ForeignKey, PrimaryKey, Unique

    body = con.body
    if con.kind == "check":
        no_inherit = body.endswith(" NO INHERIT")
        body = body.removesuffix(" NO INHERIT")
        if not body.startswith("CHECK "):
            return f"unexpected definition {body}"
        return Check(name=con.name, expression=ct.varchar_in_lists(ct.strip_parens(body[len("CHECK "):])),
                     no_inherit=no_inherit)
    if con.kind == "foreign key":
        match = _FK.match(body)
        cols = ct.ident_list(match["cols"]) if match else None
        ref = ct.qualified_name(match["ref"]) if match else None
        ref_cols = ct.ident_list(match["refcols"]) if match else None
        if match is None or cols is None or ref is None or ref_cols is None:
            return f"{body}: not declarable yet (ON DELETE SET NULL / SET DEFAULT with columns?)"
        ref_table = ref[1] if ref[0] in (None, schema) else f"{ref[0]}.{ref[1]}"
        return ForeignKey(name=con.name, columns=cols, ref_table=ref_table, ref_columns=ref_cols,
                          on_delete=match["on_delete"] or "NO ACTION", on_update=match["on_update"] or "NO ACTION",
                          match="FULL" if match["full"] else "SIMPLE", **_deferral(match))
    keyword = {"unique": "UNIQUE", "primary key": "PRIMARY KEY"}.get(con.kind)
    if keyword is None:
        return f"{con.kind} constraints are not declarable yet"
    match = re.fullmatch(rf"{keyword}(?P<nnd> NULLS NOT DISTINCT)? \((?P<cols>[^()]+)\){_DEFERRAL}", body)
    columns = ct.ident_list(match["cols"]) if match else None
    if match is None or columns is None:
        return f"{body}: INCLUDE is not declarable yet"
    if con.kind == "unique":
        return Unique(name=con.name, columns=columns, nulls_distinct=not match["nnd"], **_deferral(match))
    return PrimaryKey(columns=columns, name=None if con.name == f"{con.table}_pkey" else con.name, **_deferral(match))


CONSTRAINT = TableConstraintKind()
