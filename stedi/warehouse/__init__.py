"""The warehouse: gold DDL from sql/, loads (COPY -> staging -> MERGE) into Redshift, PostgreSQL or DuckDB."""
