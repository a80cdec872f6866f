copy {staging} from '{files}' (format parquet)
