-- The columns a warehouse table has now, in order (empty when the table does not exist yet).
select column_name
from information_schema.columns
where table_catalog = current_database()
    and table_schema = '{schema}'
    and table_name = '{table}'
order by ordinal_position
