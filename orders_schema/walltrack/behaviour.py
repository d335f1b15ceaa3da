"""What WallTrack's triggers promise (story 10.5.2, phases 3 and 6), for the migration tester.

* ``trg_orders_updated``: ``orders.updated_at`` advances on every update, also when the repository
  writes the whole row back with the ``updated_at`` it read.
* ``trg_orders_status_audit``: a status change writes one ``config_audit_log`` row (the order id,
  old and new status, ``last_error`` as the reason, by ``'system'``); an update that leaves the
  status as it was writes none.
"""

from __future__ import annotations

from orders_schema.declare.behaviour import AuditsChange, Behaviour, Const, New, Old, TouchesOnUpdate

ORDERS_TOUCH_UPDATED_AT = TouchesOnUpdate(table="orders", column="updated_at")

ORDERS_AUDIT_STATUS = AuditsChange(
    table="orders",
    column="status",
    audit_table="config_audit_log",
    writes={
        "config_table": Const("orders"),
        "config_key": New("id"),
        "old_value": Old("status"),
        "new_value": New("status"),
        "changed_by": Const("system"),
        "reason": New("last_error"),
    },
)

BEHAVIOURS: tuple[Behaviour, ...] = (ORDERS_TOUCH_UPDATED_AT, ORDERS_AUDIT_STATUS)
"""``PROJECT.behaviours``."""

__all__ = ["BEHAVIOURS", "ORDERS_AUDIT_STATUS", "ORDERS_TOUCH_UPDATED_AT"]
