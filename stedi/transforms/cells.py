"""Which cell a reading falls in: the reading tables of every zone are kept in cells, one per UTC day of
their readings (stedi/lake.py, write_cells), so that a run rewrites only the days its new records touch.

Every rule that relates two readings does so at one instant (the training set pairs a step with the
same customer's motion at that instant; readings at one instant are numbered together), so a day's
readings are built from that day's records alone, beside customer-level tables built whole.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from stedi.sources import Source

CELL = "_cell"
NO_DAY = "none"  # a reading without an instant (none passes bronze: the instant is required)


def reading_day(instant: Column) -> Column:
    """The cell of a reading taken at `instant` (a timestamp; sessions run in UTC): its day, yyyy-MM-dd.

    A date cast to text is that form for every year of four digits (bronze passes readings since 2015
    only), and costs half of date_format's pattern on Sail, where every reading computes it."""
    return F.coalesce(F.to_date(instant).cast("string"), F.lit(NO_DAY))


def bronze_day(source: Source) -> Column:
    """The cell of a bronze record of a reading source, from its epoch-millisecond instant as silver reads it."""
    assert source.read_at is not None, f"{source.name} has no readings"
    return reading_day(F.timestamp_millis(F.col(source.read_at)))
