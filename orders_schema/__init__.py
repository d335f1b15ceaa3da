"""orders-schema: PostgreSQL schema as code, with a migration tester that proves it on a real server."""

from __future__ import annotations

__version__ = "0.1.0"
