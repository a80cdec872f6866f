copy {staging} from '{prefix}' iam_role '{iam_role}' format as parquet
