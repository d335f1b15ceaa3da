"""Plans: declared objects -> ordered statement objects (no SQL text here; see render.py).

* :func:`baseline_statements` lays out a hand-declared :class:`~orders_schema.declare.model.Version`
  (idempotent creates, in the version's phases).
* :func:`create_statements` creates a whole declared schema on an empty database; the tester
  uses it to read declarations back in PostgreSQL's stored form.
* :func:`migration_plan` orders the changes of :mod:`orders_schema.migrate.diff` into online-safe
  statements: a transactional part and an online part (CONCURRENTLY, VALIDATE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from orders_schema.declare import fragments
from orders_schema.declare import model as m
from orders_schema.declare.quoting import literal, qualified
from orders_schema.migrate import diff as d
from orders_schema.migrate import render as r

T = TypeVar("T", bound=d.Change)


class PlanError(ValueError):
    """A version whose layout does not match what it declares."""


def _key(obj: m.PhaseItem, schema: m.Schema) -> tuple[str, str]:
    if isinstance(obj, m.Table):
        return ("table", obj.name)
    if isinstance(obj, m.Index):
        return ("index", obj.name)
    if isinstance(obj, m.Trigger):
        return ("trigger", f"{schema.owner_of(obj).name}.{obj.name}")
    if isinstance(obj, m.Function):
        return ("function", obj.name)
    if isinstance(obj, m.View):
        return ("view", obj.name)
    raise TypeError(obj)


def stateobjects(schema: m.Schema) -> dict[tuple[str, str], m.PhaseItem]:
    """Every object of a schema keyed by (kind, name); triggers by ``table.trigger``."""
    objects: dict[tuple[str, str], m.PhaseItem] = {}
    for table in schema.tables:
        objects[("table", table.name)] = table
        for index in table.indexes:
            objects[("index", index.name)] = index
        for trigger in table.triggers:
            objects[("trigger", f"{table.name}.{trigger.name}")] = trigger
    for fn in schema.functions:
        objects[("function", fn.name)] = fn
    for view in schema.views:
        objects[("view", view.name)] = view
    return objects


def baseline_statements(version: m.Version, previous: m.Schema | None) -> list[r.Statement]:
    """Statements of a hand-declared version, checked against what it claims to add."""
    schema = version.state
    if previous is not None and previous.name != schema.name:
        raise PlanError(f"V{version.number}: schema {schema.name} follows schema {previous.name}")
    before = stateobjects(previous) if previous is not None else {}
    after = stateobjects(schema)
    changed = sorted(k for k in before if k in after and before[k] != after[k])
    if changed:
        raise PlanError(
            f"V{version.number}: {', '.join(f'{k} {n}' for k, n in changed)} changed since the previous "
            "version; a hand-declared version can only add objects (changes go through generate)"
        )
    dropped = sorted(set(before) - set(after))
    if dropped:
        raise PlanError(f"V{version.number}: {', '.join(f'{k} {n}' for k, n in dropped)} dropped")
    listed = [_key(o, schema) for o in version.objects()]
    added = set(after) - set(before)
    for k in listed:
        if k not in added:
            what = "is listed twice" if listed.count(k) > 1 else "is not new in this version"
            raise PlanError(f"V{version.number}: {k[0]} {k[1]} {what}")
        if listed.count(k) > 1:
            raise PlanError(f"V{version.number}: {k[0]} {k[1]} is listed twice")
    missing = sorted(added - set(listed))
    if missing:
        raise PlanError(
            f"V{version.number}: {', '.join(f'{k} {n}' for k, n in missing)} added by the version "
            "but listed in none of its phases"
        )

    s = schema.name
    out: list[r.Statement] = []
    if version.create_schema:
        out.append(r.CreateSchema(s, if_not_exists=True))
    for phase in version.phases:
        out.append(r.PhaseHeader(phase.title))
        for item in phase.items:
            if isinstance(item, m.Comment):
                out.append(r.CommentLine(item.text))
            elif isinstance(item, m.Table):
                out.append(r.CreateTable(s, item, if_not_exists=True))
            elif isinstance(item, m.Index):
                out.append(r.CreateIndex(s, schema.owner_of(item).name, item, if_not_exists=True))
            elif isinstance(item, m.Function):
                out.append(r.CreateFunction(s, item, or_replace=True))
            elif isinstance(item, m.Trigger):
                table = schema.owner_of(item).name
                out += [r.DropTrigger(s, table, item.name, if_exists=True), r.CreateTrigger(s, table, item)]
            else:
                out.append(r.CreateView(s, item, or_replace=True))
    return out


def _called_by_defaults(schema: m.Schema) -> set[str]:
    return {name for table in schema.tables for column in table.columns if column.default is not None
            for name in fragments.called_functions(fragments.parse_expression(column.default, column.name))}


def create_statements(schema: m.Schema) -> list[r.Statement]:
    """Create a declared schema from nothing (no IF NOT EXISTS: the database must be empty).

    Foreign keys are added after every table exists, so declaration order does not matter.
    """
    s = schema.name
    out: list[r.Statement] = [r.CreateSchema(s, if_not_exists=False)]
    # A function a column default calls must exist before its table; the others (trigger
    # functions) come after the tables, so a SQL-language body may read them.
    called = _called_by_defaults(schema)
    early = [fn for fn in schema.functions if fn.name.lower() in called]
    out += [r.CreateFunction(s, fn, or_replace=False) for fn in early]
    for table in schema.tables:
        out.append(r.CreateTable(s, table.model_copy(update={"foreign_keys": ()})))
    for table in schema.tables:
        out += [r.AddConstraint(s, table.name, fk) for fk in table.foreign_keys]
    for table, index in schema.indexes():
        out.append(r.CreateIndex(s, table.name, index))
    out += [r.CreateFunction(s, fn, or_replace=False) for fn in schema.functions if fn not in early]
    for table, trigger in schema.triggers():
        out.append(r.CreateTrigger(s, table.name, trigger))
    out += [r.CreateView(s, view, or_replace=False) for view in schema.views]
    return out


# ---------------------------------------------------------------------------------------------
# Migrations: changes -> online-safe statements
# ---------------------------------------------------------------------------------------------

LOCK_TIMEOUT = "5s"


class DestructiveChangeError(PlanError):
    """A change that loses data and that the declarations did not explicitly allow."""


@dataclass(frozen=True)
class MigrationPlan:
    """Statements of one generated version, split by how they must run.

    Every statement is re-runnable (IF [NOT] EXISTS, OR REPLACE, DROP ... IF EXISTS before ADD
    CONSTRAINT and CREATE TRIGGER), so a version applies a second time without error; only a
    declared rename cannot be repeated.

    ``transactional`` runs in one transaction (all or nothing). ``online`` runs outside a
    transaction, statement by statement: CREATE/DROP INDEX CONCURRENTLY and VALIDATE CONSTRAINT
    on tables that already hold data, so that no long lock is taken on them.
    """

    transactional: list[r.Statement]
    online: list[r.Statement]

    @property
    def empty(self) -> bool:
        return not self.transactional and not self.online


_WIDENING = {("smallint", "integer"), ("smallint", "bigint"), ("integer", "bigint"), ("varchar", "text")}


def is_widening(old: m.SqlType, new: m.SqlType) -> bool:
    """True when every value of ``old`` fits ``new`` unchanged."""
    if (old.name, new.name) in _WIDENING:
        return True
    if old.name == new.name == "varchar":
        return new.args[0] >= old.args[0]
    numeric = {"numeric", "decimal"}
    if old.name in numeric and new.name in numeric:
        if not new.args:
            return True
        if not old.args:
            return False
        (op, os_), (np_, ns) = (*old.args, 0)[:2], (*new.args, 0)[:2]
        return ns >= os_ and np_ - ns >= op - os_
    return old == new


def destructive(change: d.Change, schema: str) -> str | None:
    """The allowance key a destructive change needs (``"drop column walltrack.orders.x"``), else None."""
    if isinstance(change, d.DropTable):
        return f"drop table {schema}.{change.table.name}"
    if isinstance(change, d.DropColumn):
        return f"drop column {schema}.{change.table}.{change.column.name}"
    if isinstance(change, d.AlterColumn) and not is_widening(change.old.type, change.new.type):
        return f"narrow column {schema}.{change.table}.{change.new.name}"
    return None


def _view_reads(view: m.View) -> set[str]:
    return {ref.name for ref in fragments.referenced_tables(fragments.parse_query(view.query, view.name))}


def _views_in_dependency_order(views: list[m.View]) -> list[m.View]:
    """Views ordered so that each comes after the views it reads."""
    names = {v.name for v in views}
    ordered: list[m.View] = []
    done: set[str] = set()
    pending = list(views)
    while pending:
        progress = False
        for view in list(pending):
            if (_view_reads(view) & names) - done - {view.name} <= set():
                ordered.append(view)
                done.add(view.name)
                pending.remove(view)
                progress = True
        if not progress:
            raise PlanError(f"views {[v.name for v in pending]} depend on each other in a cycle")
    return ordered


def _dependent_views(schema: m.Schema, relations: set[str]) -> set[str]:
    """Names of the views of ``schema`` that read any of ``relations``, directly or through other views."""
    found: set[str] = set()
    frontier = set(relations)
    while frontier:
        nxt = {v.name for v in schema.views if _view_reads(v) & frontier and v.name not in found}
        found |= nxt
        frontier = nxt
    return found


def migration_plan(
    old: m.Schema, new: m.Schema, changes: list[d.Change], allow: tuple[str, ...] = ()
) -> MigrationPlan:
    """Order ``changes`` (from :func:`orders_schema.migrate.diff.diff`) into online-safe statements."""
    s = new.name
    refused = [key for c in changes if (key := destructive(c, s)) and key not in allow]
    if refused:
        raise DestructiveChangeError(
            "refusing destructive change(s): " + "; ".join(refused)
            + ". Declare each one in the project's allow_destructive to accept the data loss."
        )
    # Tables that hold data are named as they are after this version's renames: everything a
    # renamed table gets (an index, a CHECK) must be as online-safe as on any other existing table.
    renamed = {c.old: c.new for c in changes if isinstance(c, d.RenameTable)}
    existing = {renamed.get(t.name, t.name) for t in old.tables}
    by_kind: dict[type, list[d.Change]] = {}
    for change in changes:
        by_kind.setdefault(type(change), []).append(change)

    def of(kind: type[T]) -> list[T]:
        return by_kind.get(kind, [])  # type: ignore[return-value]

    # Views to drop first and create last: dropped or replaced views, and every view that reads a
    # relation whose columns change shape (type, drop, rename) or a view being replaced.
    reshaped = {c.table for c in of(d.AlterColumn) if c.old.type != c.new.type}
    reshaped |= {c.table for c in of(d.DropColumn)} | {c.table for c in of(d.RenameColumn)}
    reshaped |= {c.old for c in of(d.RenameTable)} | {c.table.name for c in of(d.DropTable)}
    replaced = {c.old.name for c in of(d.ReplaceView)} | {c.view.name for c in of(d.DropView)}
    to_drop = replaced | _dependent_views(old, reshaped | replaced)
    old_views = {v.name: v for v in old.views}
    new_views = {v.name: v for v in new.views}
    recreate = [new_views[n] for n in to_drop if n in new_views] + [c.view for c in of(d.AddView)]

    tx: list[r.Statement] = []
    online: list[r.Statement] = []
    new_by_name = {t.name: t for t in new.tables}
    # Changes name tables as they are after the renames; drops run before the renames.
    was = {new_name: old_name for old_name, new_name in renamed.items()}
    for dtr in of(d.DropTrigger):
        tx.append(r.DropTrigger(s, was.get(dtr.table, dtr.table), dtr.trigger.name))
    for view in reversed(_views_in_dependency_order([old_views[n] for n in to_drop])):
        tx.append(r.DropView(s, view.name))
    for dcon in of(d.DropConstraint):
        tx.append(r.DropConstraint(s, was.get(dcon.table, dcon.table), dcon.constraint.name, if_exists=True))
    online_drops: dict[str, r.DropIndex] = {}
    for didx in of(d.DropIndex):
        if didx.table in existing and didx.table in {t.name for t in new.tables}:
            online_drops[didx.index.name] = r.DropIndex(s, didx.index.name, concurrently=True)
        elif didx.table not in {c.table.name for c in of(d.DropTable)}:
            tx.append(r.DropIndex(s, didx.index.name))
    for rt in of(d.RenameTable):
        tx.append(r.RenameTable(s, rt.old, rt.new))
    for rc in of(d.RenameColumn):
        tx.append(r.RenameColumn(s, rc.table, rc.old, rc.new))
    for fn in of(d.AddFunction):
        tx.append(r.CreateFunction(s, fn.function, or_replace=True))
    for rf in of(d.ReplaceFunction):
        if rf.old.arguments != rf.new.arguments or rf.old.returns != rf.new.returns:
            tx += [r.DropFunction(s, rf.old), r.CreateFunction(s, rf.new, or_replace=True)]
        else:
            tx.append(r.CreateFunction(s, rf.new, or_replace=True))
    new_tables = [c.table for c in of(d.AddTable)]
    for table in new_tables:
        bare = table.model_copy(update={"foreign_keys": (), "indexes": (), "triggers": ()})
        tx.append(r.CreateTable(s, bare, if_not_exists=True))
    for ac in of(d.AddColumn):
        tx.append(r.AddColumn(s, ac.table, ac.column, if_not_exists=True))
    for alt in of(d.AlterColumn):
        if alt.old.type != alt.new.type:
            tx.append(r.AlterColumnType(s, alt.table, alt.new.name, alt.new.type))
        if d.normal(alt.old.default) != d.normal(alt.new.default):
            tx.append(r.SetDefault(s, alt.table, alt.new.name, alt.new.default))
        if alt.old.nullable != alt.new.nullable:
            tx.append(r.SetNotNull(s, alt.table, alt.new.name, not alt.new.nullable))
    # A primary key changes after the columns it may need exist, without blocking writes: its
    # unique index is built CONCURRENTLY (online file) and swapped in by one brief ALTER TABLE,
    # so the table always has a key. A key that loses columns may find duplicates: a derived
    # table (one that declares ``populate``) is then emptied and refilled in the transaction
    # instead; any other table keeps its rows, and the index build fails if they collide.
    refill: list[m.Table] = []
    for cpk in of(d.ChangePrimaryKey):
        t = cpk.table
        drop = tuple(dict.fromkeys(n for n in (cpk.old_name, cpk.new_name) if n))
        table = new_by_name[t]
        if cpk.new is None or cpk.new_name is None:
            tx += [r.DropConstraint(s, t, name, if_exists=True) for name in drop]
        elif cpk.old and not set(cpk.old.columns) <= set(cpk.new.columns) and table.populate:
            tx += [r.DropConstraint(s, t, name, if_exists=True) for name in drop]
            tx += [r.RunSql(f"DELETE FROM {qualified(s, t)}", f"empty {s}.{t} for its new key"),
                   r.AddConstraint(s, t, cpk.new, name=cpk.new_name)]
            refill.append(table)
        else:
            staging = f"{cpk.new_name}_new"
            pk_index = m.Index(name=staging, columns=cpk.new.columns, unique=True)
            online += [r.CreateIndex(s, t, pk_index, concurrently=True, if_not_exists=True),
                       r.SwapPrimaryKey(s, t, drop, cpk.new_name, staging)]
    for table in new_tables:
        for fk in table.foreign_keys:
            tx += [r.DropConstraint(s, table.name, fk.name, if_exists=True), r.AddConstraint(s, table.name, fk)]
        tx += [r.CreateIndex(s, table.name, idx, if_not_exists=True) for idx in table.indexes]
    for con in of(d.AddConstraint):
        on_existing = con.table in existing and not isinstance(con.constraint, m.Unique)
        # DROP ... IF EXISTS first: PostgreSQL has no ADD CONSTRAINT IF NOT EXISTS, and every
        # version must apply a second time without error.
        tx += [
            r.DropConstraint(s, con.table, con.constraint.name, if_exists=True),
            r.AddConstraint(s, con.table, con.constraint, not_valid=on_existing),
        ]
        if on_existing:
            online.append(r.ValidateConstraint(s, con.table, con.constraint.name))
    # New indexes are built before old ones are dropped, so a query never loses its index; an
    # index redefined under the same name has to be dropped first.
    for idx in of(d.AddIndex):
        if idx.table not in existing:
            tx.append(r.CreateIndex(s, idx.table, idx.index))
            continue
        if idx.index.name in online_drops:
            online.append(online_drops.pop(idx.index.name))
        online.append(r.CreateIndex(s, idx.table, idx.index, concurrently=True, if_not_exists=True))
    online += online_drops.values()
    for view in _views_in_dependency_order(recreate):
        tx.append(r.CreateView(s, view, or_replace=True))
    for table in new_tables:
        for trg in table.triggers:
            tx += [r.DropTrigger(s, table.name, trg.name, if_exists=True), r.CreateTrigger(s, table.name, trg)]
    for atr in of(d.AddTrigger):
        tx.append(r.DropTrigger(s, atr.table, atr.trigger.name, if_exists=True))
        tx.append(r.CreateTrigger(s, atr.table, atr.trigger))
    for table in [*new_tables, *refill]:
        if table.populate and old.tables:
            tx.append(r.RunSql(table.populate, f"populate {s}.{table.name}"))
    for dc in of(d.DropColumn):
        tx.append(r.DropColumn(s, dc.table, dc.column.name, if_exists=True))
    for dt in of(d.DropTable):
        tx.append(r.DropTable(s, dt.table.name))
    for df in of(d.DropFunction):
        tx.append(r.DropFunction(s, df.function))

    if tx:
        tx.insert(0, r.Raw(f"SET lock_timeout = {literal(LOCK_TIMEOUT)};"))
    if online:
        online.insert(0, r.Raw(f"SET lock_timeout = {literal(LOCK_TIMEOUT)};"))
    return MigrationPlan(tx, online)
