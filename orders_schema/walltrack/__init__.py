"""The WallTrack orders schema, declared as Python objects.

``PROJECT`` is what the CLI and the pytest plugin load by default
(``orders_schema.walltrack:PROJECT``).
"""

from __future__ import annotations

from ..project import Project
from .baseline import V1
from .behaviour import BEHAVIOURS
from .head import HEAD
from .queries import QUERIES
from .story import V9
from .synthetic import SYNTHETIC_DATA

PROJECT = Project(
    schema=HEAD, versions=(V1, V9), queries=QUERIES, synthetic_data=SYNTHETIC_DATA, behaviours=BEHAVIOURS
)

__all__ = ["HEAD", "PROJECT"]
