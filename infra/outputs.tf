# Exactly what `stedi deploy glue --from-terraform infra/` and the glue deployment read (stedi/infra.py).

output "region" {
  value = var.region
}

output "bucket" {
  value = aws_s3_bucket.lake.bucket
}

output "prefix" {
  value = var.prefix
}

output "job_prefix" {
  value = var.job_prefix
}

output "glue_database" {
  value = aws_glue_catalog_database.stedi.name
}

output "glue_role_arn" {
  value = aws_iam_role.glue_jobs.arn
}

output "pseudonym_secret_id" {
  value = aws_secretsmanager_secret.pseudonym_key.name
}

output "landing" {
  value = "s3://${aws_s3_bucket.lake.bucket}/${local.landing}"
}

output "lake" {
  value = "s3://${aws_s3_bucket.lake.bucket}/${local.lake}"
}

output "warehouse_stage" {
  description = "STEDI_WAREHOUSE_STAGE for a run outside Glue whose lake is a folder"
  value       = "s3://${aws_s3_bucket.lake.bucket}/${local.stage}"
}

output "redshift_copy_role_arn" {
  description = "STEDI_REDSHIFT_IAM_ROLE: the role Redshift's COPY assumes"
  value       = aws_iam_role.redshift_copy.arn
}

output "redshift_endpoint" {
  value = "${aws_redshiftserverless_workgroup.warehouse.endpoint[0].address}:${aws_redshiftserverless_workgroup.warehouse.endpoint[0].port}"
}

output "redshift_database" {
  value = var.redshift_database
}

output "redshift_admin_secret_arn" {
  description = "Where AWS keeps the admin password (manage_admin_password)"
  value       = aws_redshiftserverless_namespace.warehouse.admin_password_secret_arn
}

output "warehouse" {
  description = "STEDI_WAREHOUSE for the glue deployment"
  value       = "redshift://${var.redshift_admin_username}@${aws_redshiftserverless_workgroup.warehouse.endpoint[0].address}:${aws_redshiftserverless_workgroup.warehouse.endpoint[0].port}/${var.redshift_database}"
}

output "operator_policy_arn" {
  description = "Attach to the identity that deploys and runs the flow"
  value       = aws_iam_policy.operator.arn
}
