"""Table-driven diff tests: (from, to) -> the changes, each with its reverse. No database."""

from __future__ import annotations

import pytest

from orders_schema.declare import model as m
from orders_schema.migrate import diff as d

ID = m.Column(name="id", type=m.UUID, nullable=False)
STATUS = m.Column(name="status", type=m.varchar(20), nullable=False, default="'pending'")
T = m.Table(name="t", columns=(ID, STATUS), primary_key=m.PrimaryKey(columns=("id",)))
FN = m.Function(name="f", body="BEGIN RETURN NEW; END;")
V = m.View(name="v", query="SELECT id FROM s.t")
BASE = m.Schema(name="s", tables=(T,), functions=(FN,), views=(V,))


def with_table(**update: object) -> m.Schema:
    return BASE.model_copy(update={"tables": (T.model_copy(update=update),)})


def kinds(changes: list[d.Change]) -> list[str]:
    return sorted(type(c).__name__ for c in changes)


CASES: list[tuple[str, m.Schema, list[str]]] = [
    ("nothing", BASE, []),
    ("cosmetic default spelling", with_table(columns=(ID, STATUS.model_copy(update={"default": "  'pending' "}))), []),
    ("add column", with_table(columns=(ID, STATUS, m.Column(name="x", type=m.TEXT))), ["AddColumn"]),
    ("drop column", with_table(columns=(ID,)), ["DropColumn"]),
    ("rename column (declared)",
     with_table(columns=(ID, STATUS.model_copy(update={"name": "state", "renamed_from": "status"}))),
     ["RenameColumn"]),
    ("rename not declared is drop + add",
     with_table(columns=(ID, STATUS.model_copy(update={"name": "state"}))), ["AddColumn", "DropColumn"]),
    ("type change", with_table(columns=(ID, STATUS.model_copy(update={"type": m.TEXT}))), ["AlterColumn"]),
    ("default change", with_table(columns=(ID, STATUS.model_copy(update={"default": "'x'"}))), ["AlterColumn"]),
    ("nullability change", with_table(columns=(ID, STATUS.model_copy(update={"nullable": True}))), ["AlterColumn"]),
    ("add check", with_table(checks=(m.Check(name="c", expression="status <> ''"),)), ["AddConstraint"]),
    ("add index", with_table(indexes=(m.Index(name="i", columns=("status",)),)), ["AddIndex"]),
    ("add trigger", with_table(triggers=(m.Trigger(name="g", timing="BEFORE", events=("UPDATE",), function="f"),)),
     ["AddTrigger"]),
    ("add table", BASE.model_copy(update={"tables": (T, m.Table(name="u", columns=(ID,)))}), ["AddTable"]),
    ("drop table", BASE.model_copy(update={"tables": (), "views": ()}), ["DropTable", "DropView"]),
    ("function body",
     BASE.model_copy(update={"functions": (FN.model_copy(update={"body": "BEGIN RETURN OLD; END;"}),)}),
     ["ReplaceFunction"]),
    ("function settings",
     BASE.model_copy(update={"functions": (FN.model_copy(update={"settings": (("search_path", "pg_catalog"),)}),)}),
     ["ReplaceFunction"]),
    ("view query", BASE.model_copy(update={"views": (m.View(name="v", query="SELECT id, status FROM s.t"),)}),
     ["ReplaceView"]),
    ("view cosmetic", BASE.model_copy(update={"views": (m.View(name="v", query="select  id\nfrom s.t -- note"),)}), []),
    ("table comment", with_table(comment="what t holds"), ["SetComment"]),
    ("column comment", with_table(columns=(ID, STATUS.model_copy(update={"comment": "state"}))), ["SetComment"]),
    # a comment is never a reason to re-create its object: only COMMENT ON
    ("view comment", BASE.replace(views=(V.replace(comment="ids", column_comments=(("id", "the id"),)),)),
     ["SetComment", "SetComment"]),
    ("function comment", BASE.replace(functions=(FN.replace(comment="touches"),)), ["SetComment"]),
    ("trigger comment", with_table(triggers=(m.Trigger(name="g", timing="BEFORE", events=("UPDATE",), function="f",
                                                       comment="g"),)), ["AddTrigger"]),
    ("check comment", with_table(checks=(m.Check(name="c", expression="status <> ''", comment="c"),)),
     ["AddConstraint"]),
    ("view instead-of trigger", BASE.replace(views=(V.replace(triggers=(
        m.Trigger(name="w", timing="INSTEAD OF", events=("INSERT",), function="f"),)),)), ["AddTrigger"]),
    ("range type", BASE.replace(ranges=(m.RangeType(name="r", subtype="integer"),)), ["AddRange"]),
    ("a new column carries its comment",
     with_table(columns=(ID, STATUS, m.Column(name="x", type=m.TEXT, comment="x"))), ["AddColumn"]),
    ("row security", with_table(row_security="enabled"), ["SetRowSecurity"]),
    ("unlogged", with_table(unlogged=True), ["SetLogged"]),
    ("partitioned (refused when planned)", with_table(partition_by="HASH (id)"), ["Reshape"]),
    ("policy", with_table(policies=(m.Policy(name="p", using="status <> ''"),)), ["AddPolicy"]),
    ("role", BASE.replace(roles=(m.Role(name="app"),)), ["AddRole"]),
    ("grant (one change per privilege)",
     BASE.replace(roles=(m.Role(name="app"),), grants=(m.Grant(to="app", privileges=("SELECT", "INSERT"),
                                                                 on="table", name="t"),)),
     ["AddRole", "SetPrivilege", "SetPrivilege"]),
    ("revoke a default", BASE.replace(revokes=(m.Revoke(on="function", name="f"),)), ["SetPrivilege"]),
    ("owner", with_table(owner="app").replace(roles=(m.Role(name="app"),)), ["AddRole", "SetOwner"]),
    ("default privileges", BASE.replace(roles=(m.Role(name="app"),), default_privileges=(
        m.DefaultPrivilege(on="tables", privileges=("SELECT",), to="app"),)),
     ["AddRole", "SetDefaultPrivilege", "SetPrivilege", "SetPrivilege"]),  # t and v exist: granted now
]


@pytest.mark.parametrize(("case", "new", "want"), CASES, ids=[c[0] for c in CASES])
def test_diff(case: str, new: m.Schema, want: list[str]) -> None:
    assert kinds(d.diff(BASE, new)) == sorted(want)


SYMMETRIC = [c for c in CASES if "rename" not in c[0]]


@pytest.mark.parametrize(("case", "new", "want"), SYMMETRIC, ids=[c[0] for c in SYMMETRIC])
def test_reverse_of_each_change_is_the_diff_back(case: str, new: m.Schema, want: list[str]) -> None:
    forward = d.diff(BASE, new)
    assert sorted(map(repr, (c.reverse() for c in forward))) == sorted(map(repr, d.diff(new, BASE)))


def test_reverse_of_a_declared_rename_renames_back() -> None:
    new = with_table(columns=(ID, STATUS.model_copy(update={"name": "state", "renamed_from": "status"})))
    (change,) = d.diff(BASE, new)
    assert change.reverse() == d.RenameColumn("t", "state", "status")


def test_check_changed_in_meaning_is_drop_and_add() -> None:
    old = with_table(checks=(m.Check(name="c", expression="status IN ('a', 'b')"),))
    new = with_table(checks=(m.Check(name="c", expression="status IN ('a')"),))
    assert kinds(d.diff(old, new)) == ["AddConstraint", "DropConstraint"]


def test_check_changed_only_in_spelling_is_no_change() -> None:
    old = with_table(checks=(m.Check(name="c", expression="status IN ('a', 'b')"),))
    new = with_table(checks=(m.Check(name="c", expression="(status in ('a','b'))"),))
    assert d.diff(old, new) == []


def test_index_predicate_and_order_changes_are_seen() -> None:
    old = with_table(indexes=(m.Index(name="i", columns=("status",), where="status <> 'x'"),))
    for changed in (
        m.Index(name="i", columns=("status",), where="status <> 'y'"),
        m.Index(name="i", columns=("status DESC",), where="status <> 'x'"),
        m.Index(name="i", columns=("status NULLS FIRST",), where="status <> 'x'"),
        m.Index(name="i", columns=("status",), where="status <> 'x'", unique=True),
    ):
        assert kinds(d.diff(old, with_table(indexes=(changed,)))) == ["AddIndex", "DropIndex"], changed


def test_diff_refuses_different_schemas() -> None:
    with pytest.raises(ValueError, match="schema s"):
        d.diff(BASE, BASE.model_copy(update={"name": "other"}))


def described(changes: list[d.Change]) -> list[str]:
    """Each change as ``Kind table.object``: what it touches, not only its kind."""
    out = []
    for c in changes:
        table = getattr(c, "table", None)
        table = table.name if isinstance(table, m.Table) else table
        obj = next((getattr(c, a) for a in ("column", "index", "constraint", "trigger", "view", "function", "policy",
                                            "partition")
                    if getattr(c, a, None) is not None), None)
        if isinstance(c, (d.RenameTable, d.RenameColumn, d.AlterColumn)):
            obj = c.new
        name = obj if isinstance(obj, str) else getattr(obj, "name", None)
        out.append(f"{type(c).__name__} {'.'.join(str(x) for x in (table, name) if x)}")
    return sorted(out)


RENAMED = BASE.replace(views=(), tables=(T.replace(
    name="t2", renamed_from="t", comment="renamed",
    columns=(ID, STATUS.replace(name="state", renamed_from="status", comment="its state")),
    indexes=(m.Index(name="i", columns=("state",)),),
    checks=(m.Check(name="c", expression="state <> ''"),)),))

# (case, old, new, the changes by kind and the objects they touch)
NAMED: list[tuple[str, m.Schema, m.Schema, list[str]]] = [
    ("add column", BASE, with_table(columns=(ID, STATUS, m.Column(name="x", type=m.TEXT))), ["AddColumn t.x"]),
    ("drop column", BASE, with_table(columns=(ID,)), ["DropColumn t.status"]),
    ("alter column", BASE, with_table(columns=(ID, STATUS.replace(type=m.TEXT))), ["AlterColumn t.status"]),
    ("rename a table and a column: the rest names them as renamed", BASE, RENAMED,
     ["AddConstraint t2.c", "AddIndex t2.i", "DropView v", "RenameColumn t2.state", "RenamePrimaryKey t2",
      "RenameTable t2", "SetComment t2", "SetComment t2.state"]),
    ("index redefined", with_table(indexes=(m.Index(name="i", columns=("status",)),)),
     with_table(indexes=(m.Index(name="i", columns=("id",)),)), ["AddIndex t.i", "DropIndex t.i"]),
    ("primary key", BASE, with_table(primary_key=m.PrimaryKey(columns=("id", "status"))), ["ChangePrimaryKey t"]),
    ("comment removed", with_table(comment="x"), BASE, ["SetComment t"]),
    ("a policy redefined", with_table(policies=(m.Policy(name="p", using="true"),)),
     with_table(policies=(m.Policy(name="p", using="status = 'x'"),)), ["ReplacePolicy t"]),
    ("a policy respelled is no change", with_table(policies=(m.Policy(name="p", using="status='x'"),)),
     with_table(policies=(m.Policy(name="p", using="status = 'x'"),)), []),
    ("partitions: added, dropped, and one with a new bound is dropped and added",
     with_table(partition_by="HASH (id)", partitions=(
         m.Partition(name="t0", bound="FOR VALUES WITH (MODULUS 2, REMAINDER 0)"),
         m.Partition(name="t1", bound="FOR VALUES WITH (MODULUS 2, REMAINDER 1)"))),
     with_table(partition_by="HASH (id)", partitions=(
         m.Partition(name="t0", bound="FOR VALUES WITH (modulus 2,  remainder 0)"),  # respelled: no change
         m.Partition(name="t1", bound="FOR VALUES WITH (MODULUS 4, REMAINDER 1)"),
         m.Partition(name="t3", bound="FOR VALUES WITH (MODULUS 4, REMAINDER 3)"))),
     ["AddPartition t.t1", "AddPartition t.t3", "DropPartition t.t1"]),
    ("a table that inherits another changes parents", BASE.replace(tables=(T, m.Table(name="u", columns=(ID,)))),
     BASE.replace(tables=(T, m.Table(name="u", columns=(), inherits=("t",)))), ["DropColumn u.id", "Reshape u"]),
    ("a dropped column takes its comment along",
     with_table(columns=(ID, STATUS.replace(comment="s"))), with_table(columns=(ID,)), ["DropColumn t.status"]),
]


@pytest.mark.parametrize(("case", "old", "new", "want"), NAMED, ids=[c[0] for c in NAMED])
def test_diff_names_what_it_touches(case: str, old: m.Schema, new: m.Schema, want: list[str]) -> None:
    assert described(d.diff(old, new)) == want


def test_changes_on_a_renamed_table_name_it_as_renamed() -> None:
    changes = d.diff(BASE, RENAMED)
    assert d.RenameTable("t", "t2") in changes and d.RenameColumn("t2", "status", "state") in changes
    assert d.SetComment("t2", "state", None, "its state") in changes
    assert all(getattr(c, "table", "t2") in ("t2",) or isinstance(c, d.RenameTable) for c in changes
               if not isinstance(c, d.DropView))


def test_commenting_existing_objects_only_sets_comments() -> None:
    g = m.Trigger(name="g", timing="BEFORE", events=("UPDATE",), function="f")
    c, i = m.Check(name="c", expression="status <> ''"), m.Index(name="i", columns=("status",))
    w = m.Trigger(name="w", timing="INSTEAD OF", events=("INSERT",), function="f")
    old = BASE.replace(tables=(T.replace(triggers=(g,), checks=(c,), indexes=(i,)),), views=(V.replace(triggers=(w,)),),
                       enums=(m.EnumType(name="e", labels=("a",)),), ranges=(m.RangeType(name="r", subtype="integer"),),
                       sequences=(m.Sequence(name="q"),))
    new = old.replace(
        tables=(T.replace(triggers=(g.replace(comment="g"),), checks=(c.replace(comment="c"),),
                          indexes=(i.replace(comment="i"),)),),
        views=(V.replace(triggers=(w.replace(comment="w"),)),), functions=(FN.replace(comment="f"),),
        enums=(m.EnumType(name="e", labels=("a",), comment="e"),),
        ranges=(m.RangeType(name="r", subtype="integer", comment="r"),), sequences=(m.Sequence(name="q", comment="q"),),
        comment="s")
    changes = d.diff(old, new)
    assert {(c.on, c.table, c.column, c.new) for c in changes if isinstance(c, d.SetComment)} == {
        ("trigger", "t", "g", "g"), ("constraint", "t", "c", "c"), ("index", "i", None, "i"),
        ("trigger", "v", "w", "w"), ("function", "f", "", "f"), ("type", "e", None, "e"), ("type", "r", None, "r"),
        ("sequence", "q", None, "q"), ("schema", "s", None, "s")}
    assert kinds(changes) == ["SetComment"] * 9
