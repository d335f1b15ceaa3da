"""``orders-schema review N``: rehearse a version at size and measure what it does to live traffic.

:mod:`.rehearse` builds version N-1 with data and applies version N under observation;
:mod:`.probe` holds the probe writer and reader (the project's declared statements) and the
``pg_locks`` monitor; :mod:`.report` prints the figures as text, markdown or GitHub annotations.
"""

from __future__ import annotations

from orders_schema.review.rehearse import ReviewInputError, VersionReview, rehearse, rows_like, target_file
from orders_schema.review.report import FORMATS

__all__ = ["FORMATS", "ReviewInputError", "VersionReview", "rehearse", "rows_like", "target_file"]
