"""Pure DataFrame -> DataFrame transformations, one module per zone. No I/O, no SparkSession, no env."""
