"""Plans: declared objects -> ordered statement objects (no SQL text here; see render.py).

* :func:`baseline_statements` lays out a hand-declared :class:`~orders_schema.model.Version`
  (idempotent creates, in the version's phases).
* :func:`create_statements` creates a whole declared schema on an empty database; the tester
  uses it to read declarations back in PostgreSQL's stored form.
"""

from __future__ import annotations

from . import model as m
from . import render as r


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


def create_statements(schema: m.Schema) -> list[r.Statement]:
    """Create a declared schema from nothing (no IF NOT EXISTS: the database must be empty).

    Foreign keys are added after every table exists, so declaration order does not matter.
    """
    s = schema.name
    out: list[r.Statement] = [r.CreateSchema(s, if_not_exists=False)]
    for table in schema.tables:
        out.append(r.CreateTable(s, table.model_copy(update={"foreign_keys": ()})))
    for table in schema.tables:
        out += [r.AddConstraint(s, table.name, fk) for fk in table.foreign_keys]
    for table, index in schema.indexes():
        out.append(r.CreateIndex(s, table.name, index))
    out += [r.CreateFunction(s, fn, or_replace=False) for fn in schema.functions]
    for table, trigger in schema.triggers():
        out.append(r.CreateTrigger(s, table.name, trigger))
    out += [r.CreateView(s, view, or_replace=False) for view in schema.views]
    return out
