-- Rows whose primary key has a NULL part.
select count(*) as offending
from {table}
where {any_key_null}
