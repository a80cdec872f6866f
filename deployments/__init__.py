"""`stedi deploy glue`: package the Spark jobs for AWS Glue, create or update the Glue jobs and the Glue
Data Catalog. The Prefect deployments themselves are declared in prefect.yaml at the repository root."""
