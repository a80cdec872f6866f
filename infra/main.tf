# The AWS side of the STEDI lakehouse: the lake bucket, the Glue jobs' role and catalog database, the
# pseudonym key's secret, Redshift Serverless with the role its COPY assumes, and log retention.
# The Glue jobs themselves are created by `stedi deploy glue` (deployments/glue.py) from these outputs.

locals {
  landing = "${var.prefix}/landing" # GlueTarget.landing_uri
  lake    = "${var.prefix}/lake"    # GlueTarget.lake_uri
  code    = "${var.prefix}/glue"    # GlueTarget.key(): the jobs' scripts and zip, and --TempDir
  stage   = "${var.prefix}/stage"   # STEDI_WAREHOUSE_STAGE: a local run's gold, staged for the COPY
  jobs    = [for job in ["bronze", "silver", "gold"] : "${var.job_prefix}-${job}"]

  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  bucket    = aws_s3_bucket.lake.arn
  job_arns  = [for name in local.jobs : "arn:${local.partition}:glue:${var.region}:${local.account}:job/${name}"]
  catalog_arns = [
    "arn:${local.partition}:glue:${var.region}:${local.account}:catalog",
    "arn:${local.partition}:glue:${var.region}:${local.account}:database/${var.glue_database}",
    "arn:${local.partition}:glue:${var.region}:${local.account}:table/${var.glue_database}/*",
  ]
  glue_log_groups = ["/aws-glue/jobs/output", "/aws-glue/jobs/error", "/aws-glue/jobs/logs-v2"]
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# --- One key for the lake's data at rest: objects, the secret, the logs ---------------------------------

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109: a key policy's "*" resource is the key itself; the account's IAM decides who
  # checkov:skip=CKV_AWS_111: as above: a key policy names no other resource than its key
  # checkov:skip=CKV_AWS_356: as above
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "GlueLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws-glue/*"]
    }
  }
}

resource "aws_kms_key" "lake" {
  description         = "STEDI lakehouse: the lake bucket, the pseudonym key secret, the Glue logs"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "lake" {
  name          = "alias/${var.prefix}-lake"
  target_key_id = aws_kms_key.lake.key_id
}

# --- The lake bucket: landing, lake, the jobs' code and the warehouse stage under var.prefix --------------

resource "aws_s3_bucket" "lake" {
  # checkov:skip=CKV_AWS_18: access logs need a second bucket; CloudTrail data events are the audit trail
  # checkov:skip=CKV_AWS_144: cross-region replication is a disaster-recovery choice, not the pipeline's
  # checkov:skip=CKV2_AWS_62: nothing reacts to object events: the flow lists the landing itself
  bucket = var.bucket_name
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.lake.arn
    }
    bucket_key_enabled = true
  }
}

# Zones are rewritten run after run (a version per run, the previous one kept): old object versions and
# unfinished uploads expire instead of growing the bill.
resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket     = aws_s3_bucket.lake.id
  depends_on = [aws_s3_bucket_versioning.lake]
  rule {
    id     = "expire-replaced-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  # A load removes what it staged, which in a versioned bucket leaves delete markers over old versions:
  # those versions go after a day, and what a dry run or a killed load left after stage_retention_days.
  rule {
    id     = "expire-the-warehouse-stage"
    status = "Enabled"
    filter {
      prefix = "${local.stage}/"
    }
    expiration {
      days = var.stage_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  rule {
    id     = "clear-the-stages-delete-markers"
    status = "Enabled"
    filter {
      prefix = "${local.stage}/"
    }
    expiration {
      expired_object_delete_marker = true
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket, "${local.bucket}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket     = aws_s3_bucket.lake.id
  policy     = data.aws_iam_policy_document.tls_only.json
  depends_on = [aws_s3_bucket_public_access_block.lake]
}

# --- The pseudonym key: the secret is Terraform's, its value never is (it would sit in the state) ---------

resource "aws_secretsmanager_secret" "pseudonym_key" {
  # checkov:skip=CKV2_AWS_57: rotating the key would give every customer a new pseudonym; it is set once
  name        = var.pseudonym_secret_name
  description = "STEDI lakehouse pseudonymisation key: set with `aws secretsmanager put-secret-value`"
  kms_key_id  = aws_kms_key.lake.arn
}

# --- The Glue jobs' role: read landing, write the lake, read the one secret, write its logs -------------

data "aws_iam_policy_document" "glue_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "glue_jobs" {
  name               = "${var.job_prefix}-glue-jobs"
  description        = "The STEDI lakehouse's Glue jobs (${join(", ", local.jobs)})"
  assume_role_policy = data.aws_iam_policy_document.glue_assume.json
}

# Both the jobs and the operator list and read the landing, the lake and the jobs' code.
data "aws_iam_policy_document" "read_prefixes" {
  statement {
    sid       = "ListThePrefixes"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.landing}/*", "${local.lake}/*", "${local.code}/*"]
    }
  }
  statement {
    sid       = "ReadLandingLakeAndCode"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket}/${local.landing}/*", "${local.bucket}/${local.lake}/*", "${local.bucket}/${local.code}/*"]
  }
}

data "aws_iam_policy_document" "glue_jobs" {
  source_policy_documents = [data.aws_iam_policy_document.read_prefixes.json]
  statement {
    sid       = "WriteTheLake"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.bucket}/${local.lake}/*", "${local.bucket}/${local.code}/temp/*"]
  }
  statement {
    sid       = "UseTheLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.lake.arn]
  }
  statement {
    sid       = "ReadThePseudonymKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.pseudonym_key.arn]
  }
  statement {
    sid       = "ReadTheCatalog" # --enable-glue-datacatalog: Spark's catalog is the Glue database
    actions   = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"]
    resources = local.catalog_arns
  }
  statement {
    sid       = "WriteTheirLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws-glue/*"]
  }
  statement {
    sid       = "PutJobMetrics" # --enable-metrics; PutMetricData has no resource to name
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue"]
    }
  }
}

resource "aws_iam_role_policy" "glue_jobs" {
  name   = "stedi-lakehouse"
  role   = aws_iam_role.glue_jobs.id
  policy = data.aws_iam_policy_document.glue_jobs.json
}

resource "aws_glue_catalog_database" "stedi" {
  name        = var.glue_database
  description = "STEDI lakehouse: every zone's tables, registered by `stedi deploy glue` and each run"
}

resource "aws_cloudwatch_log_group" "glue" {
  for_each          = toset(local.glue_log_groups)
  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.lake.arn
}

# --- Who deploys and runs the flow: `stedi deploy glue` and the glue deployment's worker -----------------

data "aws_iam_policy_document" "operator" {
  source_policy_documents = [data.aws_iam_policy_document.read_prefixes.json]
  statement {
    sid       = "UploadTheCodeAndWriteTheLake" # the deploy's code; the flow's run reports and prunes; the stage
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.bucket}/${local.lake}/*", "${local.bucket}/${local.code}/*", "${local.bucket}/${local.stage}/*"]
  }
  statement {
    sid       = "ListTheStage" # a local run's Redshift load stages gold there, and lists it to remove it
    actions   = ["s3:ListBucket"]
    resources = [local.bucket]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.stage}/*"]
    }
  }
  statement {
    sid       = "UseTheLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.lake.arn]
  }
  statement {
    sid       = "ReadThePseudonymKey" # a run outside Glue (the local runner) keys pseudonyms alike
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.pseudonym_key.arn]
  }
  statement {
    sid       = "DeployAndRunTheJobs"
    actions   = ["glue:GetJob", "glue:CreateJob", "glue:UpdateJob", "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"]
    resources = local.job_arns
  }
  statement {
    sid       = "KeepTheCatalog"
    actions   = ["glue:GetDatabase", "glue:CreateDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable"]
    resources = local.catalog_arns
  }
  statement {
    sid       = "HandTheRoleToGlue"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.glue_jobs.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["glue.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "operator" {
  name        = "${var.job_prefix}-operator"
  description = "Deploy the STEDI lakehouse's Glue jobs and run its flow (attach to the worker's identity)"
  policy      = data.aws_iam_policy_document.operator.json
}

# --- Redshift Serverless, and the role its COPY assumes to read gold ------------------------------------

data "aws_iam_policy_document" "redshift_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "redshift_copy" {
  name               = "${var.job_prefix}-redshift-copy"
  description        = "Assumed by Redshift's COPY to read the lake's gold zone and the warehouse stage"
  assume_role_policy = data.aws_iam_policy_document.redshift_assume.json
}

data "aws_iam_policy_document" "redshift_copy" {
  statement {
    sid       = "ListGold"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.lake}/_zones/gold/*", "${local.stage}/*"]
    }
  }
  statement {
    sid       = "ReadGold"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket}/${local.lake}/_zones/gold/*", "${local.bucket}/${local.stage}/*"]
  }
  statement {
    sid       = "DecryptGold"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.lake.arn]
  }
}

resource "aws_iam_role_policy" "redshift_copy" {
  name   = "read-gold"
  role   = aws_iam_role.redshift_copy.id
  policy = data.aws_iam_policy_document.redshift_copy.json
}

resource "aws_redshiftserverless_namespace" "warehouse" {
  namespace_name        = var.redshift_namespace
  db_name               = var.redshift_database
  admin_username        = var.redshift_admin_username
  manage_admin_password = true # generated and kept by AWS in Secrets Manager, never in this state
  kms_key_id            = aws_kms_key.lake.arn
  iam_roles             = [aws_iam_role.redshift_copy.arn]
  default_iam_role_arn  = aws_iam_role.redshift_copy.arn
  log_exports           = ["connectionlog", "userlog", "useractivitylog"]
}

resource "aws_redshiftserverless_workgroup" "warehouse" {
  namespace_name       = aws_redshiftserverless_namespace.warehouse.namespace_name
  workgroup_name       = var.redshift_workgroup
  base_capacity        = var.redshift_base_capacity
  publicly_accessible  = false
  enhanced_vpc_routing = true
  subnet_ids           = length(var.redshift_subnet_ids) > 0 ? var.redshift_subnet_ids : null
  security_group_ids   = length(var.redshift_security_group_ids) > 0 ? var.redshift_security_group_ids : null
}
