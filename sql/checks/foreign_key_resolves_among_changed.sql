-- After a load of changes: child rows it merged (their staging table), and child rows whose parent key it retracted
-- (the parent's retracted table), that find no parent row. Any other child row resolved when it was loaded, to a parent
-- this load did not delete. A retracted table holds each parent key once (the parent's key is unique).
select count(*) as offending
from (
    select {child_columns}
    from {staging}
    union all
    select {held_child_columns}
    from {retracted} as gone
    inner join {child} as held
        on {gone_match}
) as child
left join {parent} as parent
    on {key_match}
where {parent_key_null} and {child_key_not_null}
