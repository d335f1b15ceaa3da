"""Migration cases: the project's files apply, re-apply harmlessly and fail atomically; bad files are caught."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from orders_schema.declare.project import Project
from orders_schema.store.files import version_files
from orders_schema.tester.checks import Case, CaseResult, migrations, run_case
from orders_schema.tester.harness import Databases

RunOnEmpty = Callable[[Case], CaseResult]


@pytest.fixture
def on_empty(dbs: Databases) -> RunOnEmpty:
    """Run a case on a new empty database, dropped afterwards."""

    def run(case: Case) -> CaseResult:
        name = dbs.empty("checks_migration_")
        try:
            with psycopg.connect(dbs.server.dsn(name)) as conn:
                return run_case(case, conn)
        finally:
            dbs.drop(name)

    return run


def with_extra_file(project: Project, tmp_path: Path, filename: str, text: str) -> Project:
    """The project with its schema/ copied to tmp_path plus one more version file."""
    schema_dir = tmp_path / "schema"
    shutil.copytree(project.schema_dir, schema_dir)
    (schema_dir / filename).write_text(text, encoding="utf-8")
    return replace(project, schema_dir=schema_dir)


def test_the_projects_files_pass_every_migration_case(on_empty: RunOnEmpty, orders_schema_project: Project) -> None:
    selected = migrations.cases(orders_schema_project)
    names = [f.path.name for f in version_files(orders_schema_project.schema_dir)]
    assert [c.id for c in selected] == [
        "migration:apply-in-order", "migration:reapply", *(f"migration:atomic:{n}" for n in names)
    ]
    assert {c.needs for c in selected} == {"empty"}
    online = {f"migration:atomic:{f.path.name}" for f in version_files(orders_schema_project.schema_dir)
              if not f.transactional}
    for case in selected:
        result = on_empty(case)
        assert result.outcome == ("skipped" if case.id in online else "passed"), result.message


def test_a_file_that_does_not_apply_fails_naming_it(
    on_empty: RunOnEmpty, orders_schema_project: Project, tmp_path: Path
) -> None:
    typo = "ALTER TABLE walltrack.order ADD x int;\n"
    project = with_extra_file(orders_schema_project, tmp_path, "V10__typo.sql", typo)
    result = on_empty(migrations.apply_in_order_case(project))
    assert not result.ok
    assert "V10__typo.sql: 42P01" in result.message


def test_a_file_that_cannot_be_applied_twice_fails_reapply(
    on_empty: RunOnEmpty, orders_schema_project: Project, tmp_path: Path
) -> None:
    project = with_extra_file(
        orders_schema_project, tmp_path, "V10__extra.sql", "CREATE TABLE walltrack.extra (id int);\n"
    )
    result = on_empty(migrations.reapply_case(project))
    assert not result.ok
    assert "re-applying a file to the database it had just built failed: V10__extra.sql: 42P07" in result.message


def test_a_file_that_changes_the_schema_each_time_fails_reapply_listing_the_change(
    on_empty: RunOnEmpty, orders_schema_project: Project, tmp_path: Path
) -> None:
    creeping = """DO $$ BEGIN
    IF EXISTS (SELECT FROM information_schema.columns WHERE table_schema = 'walltrack'
               AND table_name = 'signals' AND column_name = 'v1') THEN
        ALTER TABLE walltrack.signals ADD COLUMN IF NOT EXISTS v2 integer DEFAULT 0;
    END IF;
    ALTER TABLE walltrack.signals ADD COLUMN IF NOT EXISTS v1 integer;
END $$;
"""
    project = with_extra_file(orders_schema_project, tmp_path, "V10__creeping.sql", creeping)
    result = on_empty(migrations.reapply_case(project))
    assert not result.ok
    assert "the catalogue changed: +column walltrack.signals.v2 integer notnull=f default=0" in result.message


def test_a_no_transaction_file_is_skipped_by_the_atomic_case(
    on_empty: RunOnEmpty, orders_schema_project: Project, tmp_path: Path
) -> None:
    mark = "-- orders-schema: no-transaction"  # apply's marker (first line of the file)
    text = f"{mark}\nCREATE INDEX CONCURRENTLY IF NOT EXISTS idx_x ON walltrack.signals (score);\n"
    project = with_extra_file(orders_schema_project, tmp_path, "V10__online.sql", text)
    case = next(c for c in migrations.cases(project) if c.id == "migration:atomic:V10__online.sql")
    result = on_empty(case)
    assert result.outcome == "skipped"
    assert "no-transaction" in result.message


def test_the_snapshot_sees_changes_postgresql_would_keep_quietly(orders_db: psycopg.Connection) -> None:
    before = migrations.snapshot(orders_db)
    orders_db.execute("ALTER TABLE walltrack.orders ALTER COLUMN max_attempts SET DEFAULT 5")
    orders_db.execute("COMMENT ON TABLE walltrack.orders IS 'orders'")
    orders_db.execute(
        "CREATE OR REPLACE FUNCTION walltrack.update_orders_timestamp() RETURNS trigger "
        "LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$"
    )
    after = migrations.snapshot(orders_db)
    diff = migrations.snapshot_diff(before, after)
    assert any(line.startswith("+column walltrack.orders.max_attempts integer notnull=t default=5") for line in diff)
    assert any(line.startswith("+comment table walltrack.orders md5=") for line in diff)
    assert any(line.startswith("+function walltrack.update_orders_timestamp() md5=") for line in diff)
    assert migrations.fingerprint(before) != migrations.fingerprint(after)
    assert not any("oid" in line.lower() for line in after if line.startswith("relation"))
