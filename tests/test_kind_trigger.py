"""The trigger kind on a real PostgreSQL: generated (on an existing table and on a new one),
applied, read back with pg_get_triggerdef and compared in stored form ("nothing left to change");
drift is reported naming the table and trigger; a missing table is one difference, not one more
per trigger it held; the down script removes the triggers."""

from __future__ import annotations

from pathlib import Path

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare import project as p
from orders_schema.live.apply import migrate, undo_last
from orders_schema.live.compare import compare, declared_catalog
from orders_schema.live.inspect import inspect_schema
from orders_schema.migrate import workflow
from orders_schema.tester.harness import Databases

ID = m.Column(name="id", type=m.INTEGER, nullable=False)
AT = m.Column(name="at", type=m.TIMESTAMPTZ)
ITEMS = m.Table(name="items", columns=(ID, AT), primary_key=m.PrimaryKey(columns=("id",)))
V1_STATE = m.Schema(name="trg", tables=(ITEMS,))
V1 = m.Version(number=1, name="trg", create_schema=True, state=V1_STATE,
               phases=(m.Phase(title="ITEMS", items=(ITEMS,)),))
TOUCH = m.Function(name="touch", returns="trigger", language="plpgsql",
                   body="BEGIN NEW.at := now(); RETURN NEW; END")
HEAD = m.Schema(name="trg", functions=(TOUCH,), tables=(
    ITEMS.replace(triggers=(m.Trigger(name="items_touch", timing="BEFORE", events=("UPDATE",), function="touch",
                                      when="OLD.id IS DISTINCT FROM NEW.id"),)),
    m.Table(name="tags", columns=(ID, AT),
            triggers=(m.Trigger(name="tags_touch", timing="BEFORE", events=("INSERT", "UPDATE"), function="touch"),)),
))


def differences(dbs: Databases, dsn: str, schema: m.Schema) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        live = inspect_schema(conn, "trg")
    return [(d.kind, d.name, d.what) for d in compare(declared_catalog(schema, dbs), live)]


def test_triggers_generate_apply_compare_and_undo(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema"))
    proj = p.Project(schema=HEAD, versions=(V1,), schema_dir=tmp_path / "schema")
    result = workflow.generate(proj, "triggers")
    assert result is not None and list(result.versions) == ["V2__triggers.sql"]  # no online part
    sql = result.files["V2__triggers.sql"]
    assert "DROP TRIGGER IF EXISTS items_touch ON trg.items;\nCREATE TRIGGER items_touch\n" in sql
    assert sql.index("FUNCTION trg.touch()") < sql.index("CREATE TRIGGER items_touch")
    assert workflow.generate(proj, "again") is None  # settled

    migrate(orders_empty_dsn, proj.schema_dir)
    assert differences(orders_databases, orders_empty_dsn, HEAD) == []
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        catalog = inspect_schema(conn, "trg")
        assert [(t.table, t.name, t.enabled) for t in catalog.triggers] == [
            ("items", "items_touch", "O"), ("tags", "tags_touch", "O")]
        assert catalog.table("tags").triggers == (catalog.triggers[1],)
        conn.execute("ALTER TABLE trg.items DISABLE TRIGGER items_touch")
        conn.execute("CREATE TRIGGER extra BEFORE DELETE ON trg.items FOR EACH ROW EXECUTE FUNCTION trg.touch()")
        conn.execute("DROP TABLE trg.tags")
    assert differences(orders_databases, orders_empty_dsn, HEAD) == [
        ("table", "trg.tags", "missing"),  # and not its trigger as well
        ("trigger", "trg.items.extra", "extra"),
        ("trigger", "trg.items.items_touch", "enabled differs"),
    ]
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute("DROP TRIGGER extra ON trg.items")
        conn.execute("ALTER TABLE trg.items ENABLE TRIGGER items_touch")
        conn.execute("CREATE TABLE trg.tags (id integer NOT NULL, at timestamptz)")
    assert undo_last(orders_empty_dsn, proj.schema_dir, allow_data_loss=True) == [2]
    assert differences(orders_databases, orders_empty_dsn, V1_STATE) == []
