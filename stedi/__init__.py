"""STEDI Human Balance Analytics lakehouse: Spark jobs, transformations and the `stedi` CLI."""
