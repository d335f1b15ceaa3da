"""WallTrack's orders, public import: ``from orders_schema.orders import OrderRepository, ...``.

The repository lives with the rest of WallTrack in :mod:`orders_schema.walltrack.orders`; this
package re-exports it.
"""

from orders_schema.walltrack.orders import *  # noqa: F403
from orders_schema.walltrack.orders import __all__ as __all__
