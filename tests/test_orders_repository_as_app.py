"""Every repository test that goes through ``OrderRepository`` again, connected as
``walltrack_app`` (the role the hardened schema gives the application): whatever the repository
does works with that role's privileges and policies. Direct SQL in those tests (setting up rows,
reading the audit log) still runs as the test's own user."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from orders_schema.walltrack.head import APP
from orders_schema.walltrack.orders import OrderRejectedError, OrderRepository
from tests import test_orders_repository as repository_tests

AS_APP = {"options": f"-c role={APP}"}

# The tests that use the repository, collected here under the same names (the fixtures below win),
# but one, whose variant for the app role is below.
OWN_VARIANT = "test_a_refusal_reaches_the_caller_as_order_rejected_error"
for _name, _test in vars(repository_tests).items():
    if _name.startswith("test_") and _name != OWN_VARIANT and "repo" in inspect.signature(_test).parameters:
        globals()[_name] = _test
sql = repository_tests.sql


@pytest.fixture
async def repo(orders_committed_dsn: str) -> AsyncIterator[OrderRepository]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        orders_committed_dsn, kwargs=AS_APP, min_size=1, max_size=5, open=False
    )
    await pool.open(wait=True)
    try:
        yield OrderRepository(pool)
    finally:
        await pool.close()


def test_the_pool_really_connects_as_the_app_role(orders_committed_dsn: str) -> None:
    with psycopg.connect(orders_committed_dsn, **AS_APP) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (APP,)
        for statement in ("DELETE FROM walltrack.orders", "DELETE FROM walltrack.config_audit_log",
                          "UPDATE walltrack.order_settled_counts SET order_count = 0",
                          "INSERT INTO walltrack.config_audit_log (config_table, config_key) VALUES ('x', 'y')",
                          "TRUNCATE walltrack.orders", "DROP TABLE walltrack.orders",
                          "ALTER TABLE walltrack.orders DISABLE ROW LEVEL SECURITY",
                          "CREATE TABLE walltrack.mine (a int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)


@pytest.mark.parametrize(("changes", "sqlstate", "constraint"), repository_tests.REFUSALS)
async def test_a_refusal_reaches_the_caller_as_order_rejected_error(
    repo: OrderRepository, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], sqlstate: str, constraint: str,
) -> None:
    """As in test_orders_repository, except one thing: for a role under row security (orders has it
    on) PostgreSQL leaves the key's value out of a foreign-key violation's detail, so the message
    names the order, the constraint and the table, not the missing position's id."""
    bad = repository_tests.entry().model_copy(update=changes)
    monkeypatch.setattr(repository_tests.validation_module, "revalidated", lambda order: order)
    with pytest.raises(OrderRejectedError) as info:
        await repo.create(bad)
    error, message = info.value, str(info.value)
    assert (error.order_id, error.sqlstate, error.constraint) == (bad.id, sqlstate, constraint)
    assert str(bad.id) in message and constraint in message and message.endswith("nothing was written")
    if sqlstate == "23503":
        assert '"positions"' in message and str(repository_tests.MISSING_POSITION) not in message
