create temp table {staging} (like {target}) on commit drop
