-- The warehouse describes exactly one snapshot.
select case when count(*) = 1 then 0 else greatest(count(*), 1) end as offending
from stedi.lake_snapshot
