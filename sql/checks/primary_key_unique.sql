-- Primary key values held by more than one row (Redshift does not enforce primary keys).
select count(*) as offending
from (
    select {key_columns}
    from {table}
    group by {key_columns}
    having count(*) > 1
) as duplicated
