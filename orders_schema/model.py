"""The declared schema's public import: ``from orders_schema.model import Table, Column, ...``.

The declarations live in :mod:`orders_schema.declare.model`; this module re-exports them.
"""

from orders_schema.declare.model import *  # noqa: F403
from orders_schema.declare.model import __all__ as __all__
