"""The tester's ready-made tests on this project's own declarations (one item per derived case)."""

from orders_schema.testing import (
    test_orders_schema_case,
    test_orders_schema_structure,
    test_orders_schema_unused_indexes,
)

__all__ = ["test_orders_schema_case", "test_orders_schema_structure", "test_orders_schema_unused_indexes"]
