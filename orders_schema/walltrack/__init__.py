"""The WallTrack orders schema, declared as Python objects.

``PROJECT`` is what this repository's ``pyproject.toml`` names in ``[tool.orders-schema]``
(``orders_schema.walltrack:PROJECT``); the engine itself has no default project.
"""

from __future__ import annotations

from orders_schema.declare.project import Project
from orders_schema.walltrack.baseline import V1
from orders_schema.walltrack.behaviour import BEHAVIOURS
from orders_schema.walltrack.head import HEAD
from orders_schema.walltrack.queries import QUERIES
from orders_schema.walltrack.story import V9
from orders_schema.walltrack.synthetic import SYNTHETIC_DATA

PROJECT = Project(
    schema=HEAD, versions=(V1, V9), queries=QUERIES, synthetic_data=SYNTHETIC_DATA, behaviours=BEHAVIOURS,
    # Write speed: order_status_counts (every status) gives way to order_settled_counts (settled
    # statuses) plus idx_orders_open; its rows are derived, so nothing is lost (docs/decisions.md).
    allow_destructive=("drop table walltrack.order_status_counts",),
)

__all__ = ["HEAD", "PROJECT"]
