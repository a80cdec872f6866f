# Every name the pipeline uses has one default here and the same default in the code (tests/infra holds
# the two together): change one, and pass the same value to `stedi deploy glue`.

variable "region" {
  description = "AWS region of every resource (the Glue jobs, the bucket, Redshift Serverless)."
  type        = string
  default     = "us-east-1"
}

variable "bucket_name" {
  description = "The lake bucket: landing, lake and the jobs' code live under var.prefix in it."
  type        = string
}

variable "prefix" {
  description = "Key prefix in the bucket (stedi deploy glue --prefix): landing/, lake/ and glue/ go under it."
  type        = string
  default     = "stedi"
}

variable "job_prefix" {
  description = "Glue job names' prefix (stedi deploy glue --job-prefix): <job_prefix>-bronze, -silver, -gold."
  type        = string
  default     = "stedi"
}

variable "glue_database" {
  description = "The Glue Data Catalog database the deploy registers every zone's tables in."
  type        = string
  default     = "stedi"
}

variable "pseudonym_secret_name" {
  description = "Secrets Manager secret holding the pseudonymisation key; its value is set outside Terraform."
  type        = string
  default     = "stedi/pseudonym-key"
}

variable "log_retention_days" {
  description = "How long the Glue jobs' CloudWatch logs are kept."
  type        = number
  default     = 365
}

variable "stage_retention_days" {
  description = "How long staged gold outlives a load that did not remove it (a dry run's, a killed one's)."
  type        = number
  default     = 2
}

variable "redshift_namespace" {
  description = "Redshift Serverless namespace name."
  type        = string
  default     = "stedi"
}

variable "redshift_workgroup" {
  description = "Redshift Serverless workgroup name."
  type        = string
  default     = "stedi"
}

variable "redshift_database" {
  description = "The warehouse database the load writes into."
  type        = string
  default     = "analytics"
}

variable "redshift_admin_username" {
  description = "Redshift admin user; its password is generated and kept by AWS in Secrets Manager."
  type        = string
  default     = "stedi_admin"
}

variable "redshift_base_capacity" {
  description = "Redshift Serverless base capacity in RPUs (8 to 512, in steps of 8)."
  type        = number
  default     = 8
}

variable "redshift_subnet_ids" {
  description = "Subnets of the Redshift Serverless workgroup (empty: the account's default VPC subnets)."
  type        = list(string)
  default     = []
}

variable "redshift_security_group_ids" {
  description = "Security groups of the workgroup (empty: the default VPC's default group)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = { project = "stedi-lakehouse" }
}
