create temp table {staging} as select * from {target} limit 0
