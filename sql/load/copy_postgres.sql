copy {staging} ({columns}) from stdin (format csv)
