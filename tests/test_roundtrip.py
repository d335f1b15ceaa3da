"""The everyday changes, end to end on a database holding synthetic orders.

One row per change of :data:`orders_schema.walltrack.everyday.EVERYDAY`, each declared against
WallTrack's head: generate (its files and hazards are the golden text under
``tests/golden/roundtrip/``), check, apply, verify at the new head, undo (refused first when it
loses data), verify at the previous release (declared objects and every row intact), the down
script once more, apply again, verify. One database at the last release is loaded once per
session and cloned per row (CREATE DATABASE ... TEMPLATE). Generated files go to tmp dirs.

Set ``ORDERS_SCHEMA_UPDATE_GOLDEN=1`` to rewrite the golden files after a deliberate change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orders_schema.live.apply import migrate
from orders_schema.live.compare import declared_catalog
from orders_schema.live.inspect import Catalog
from orders_schema.migrate import workflow
from orders_schema.tester.data import load_synthetic_data
from orders_schema.tester.harness import Databases
from orders_schema.tester.roundtrip import round_trip, rows_of
from orders_schema.tester.server import scratch_database
from orders_schema.walltrack.everyday import EVERYDAY, Everyday

GOLDEN = Path(__file__).resolve().parent / "golden" / "roundtrip"
ROWS = 3_000


@pytest.fixture(scope="session")
def loaded_db(orders_databases: Databases) -> Iterator[str]:
    """A database at the last release (history recorded) holding ROWS synthetic orders; the
    rows clone it."""
    project = orders_databases.project
    name = orders_databases.empty("orders_schema_rt_loaded")
    dsn = orders_databases.server.dsn(name)
    migrate(dsn, project.schema_dir)
    with psycopg.connect(dsn) as conn:
        load_synthetic_data(conn, project, ROWS)
        conn.commit()
    yield name
    orders_databases.drop(name)


@pytest.fixture(scope="session")
def released_catalog(orders_databases: Databases) -> Catalog:
    released = workflow.released_schema(orders_databases.project)
    assert released is not None
    return declared_catalog(released, orders_databases.server.dsn("postgres"))


@pytest.mark.parametrize("change", EVERYDAY, ids=[e.name for e in EVERYDAY])
def test_everyday_change_round_trip(
    change: Everyday, loaded_db: str, released_catalog: Catalog, orders_databases: Databases, tmp_path: Path
) -> None:
    project = orders_databases.project
    with scratch_database(orders_databases.server.dsn("postgres"), "orders_schema_rt", template=loaded_db) as dsn:
        trip = round_trip(project, change.schema, change.name, dsn, tmp_path, released_catalog)
        with psycopg.connect(dsn) as conn:
            orders = rows_of(conn, project.schema, change.schema)["orders"]
    assert orders[0] == ROWS
    assert trip.generated.undo_loses == change.undo_loses
    steps = [s.name for s in trip.steps]
    assert steps[-1] == "verify at the new head again" and ("undo refused (loses data)" in steps) == bool(
        change.undo_loses)
    golden = GOLDEN / f"{change.name}.txt"
    text = trip.golden()
    if os.environ.get("ORDERS_SCHEMA_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}: run with ORDERS_SCHEMA_UPDATE_GOLDEN=1 and review it"
    assert text == golden.read_text(encoding="utf-8")


def test_the_released_schema_files_are_untouched() -> None:
    """Every row wrote into its own tmp copy of schema/: check still passes on the real one."""
    from orders_schema.walltrack import PROJECT

    assert workflow.check(PROJECT.with_dir(Path(__file__).resolve().parent.parent / "schema")) == []
