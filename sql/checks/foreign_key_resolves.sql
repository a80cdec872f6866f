-- Child rows whose foreign key finds no parent row (Redshift does not enforce foreign keys).
select count(*) as offending
from {child} as child
left join {parent} as parent
    on {key_match}
where {parent_key_null} and {child_key_not_null}
