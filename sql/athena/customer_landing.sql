-- The customer landing zone as delivered by the website: JSON lines, one customer record each.
-- `stedi deploy glue` registers this table itself; to create it by hand in the Athena console, replace
-- {landing} with the landing root (for example s3://my-bucket/stedi/landing). Epoch fields are milliseconds.
-- Lines that are not JSON (the bronze job quarantines them) are skipped, not fatal: ignore.malformed.json.
create external table if not exists `stedi`.`customer_landing` (
    `customerName`              string,
    `email`                     string,
    `phone`                     string,
    `birthDay`                  string,
    `serialNumber`              string,
    `registrationDate`          bigint,
    `lastUpdateDate`            bigint,
    `shareWithResearchAsOfDate` bigint,
    `shareWithPublicAsOfDate`   bigint,
    `shareWithFriendsAsOfDate`  bigint
)
row format serde 'org.openx.data.jsonserde.JsonSerDe'
with serdeproperties ('ignore.malformed.json' = 'true')
stored as inputformat 'org.apache.hadoop.mapred.TextInputFormat'
    outputformat 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
location '{landing}/customer/landing/'
tblproperties ('classification' = 'json');
