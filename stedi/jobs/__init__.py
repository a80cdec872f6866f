"""Spark jobs, one per zone transition. Each has `run(spark, args)` and a `main(argv)` for spark-submit/Glue."""
