"""The ready-made orders-schema tests, run on this project's declarations."""

from orders_schema.testing import test_orders_schema_case, test_orders_schema_structure  # noqa: F401
