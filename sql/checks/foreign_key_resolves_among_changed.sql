-- After a load of changes: child rows it merged (their staging table), and child rows whose parent key it retracted
-- (the parent's retracted table), that find no parent row. Any other child row resolved when it was loaded, to a parent
-- this load did not delete.
select count(*) as offending
from (
    select {child_columns}
    from {staging}
    union all
    select {held_child_columns}
    from {child} as held
    where exists (
        select 1
        from {retracted} as gone
        where {gone_match}
    )
) as child
left join {parent} as parent
    on {key_match}
where {parent_key_null} and {child_key_not_null}
