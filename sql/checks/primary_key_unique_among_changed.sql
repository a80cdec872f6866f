-- Primary key values of the rows a load of changes merged (its staging table) that the table now holds more than
-- once. Every other row was checked when it was loaded, and no two of those share a key.
select count(*) as offending
from (
    select {target_key_columns}
    from {table} as target
    inner join (select distinct {key_columns} from {staging}) as changed
        on {key_match}
    group by {target_key_columns}
    having count(*) > 1
) as duplicated
