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
    schema=HEAD, versions=(V1, V9), queries=QUERIES, synthetic_data=SYNTHETIC_DATA, behaviours=BEHAVIOURS
)

__all__ = ["HEAD", "PROJECT"]
