create temp table {staging} (like {target})
