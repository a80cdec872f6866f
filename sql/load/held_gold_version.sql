-- The lake's gold version the warehouse holds (sql/gold/lake_snapshot.sql): a run whose gold is that one
-- has nothing to load.
select gold_version
from {schema}.lake_snapshot
