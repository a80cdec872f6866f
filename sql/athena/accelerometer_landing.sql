-- The accelerometer landing zone as delivered by the mobile app: JSON lines, one reading each, keyed by
-- the customer's email (`user`). `stedi deploy glue` registers this table itself; to create it by hand in
-- the Athena console, replace {landing} with the landing root. `timestamp` is epoch milliseconds.
-- Lines that are not JSON (the bronze job quarantines them) are skipped, not fatal: ignore.malformed.json.
create external table if not exists `stedi`.`accelerometer_landing` (
    `user`      string,
    `timestamp` bigint,
    `x`         double,
    `y`         double,
    `z`         double
)
row format serde 'org.openx.data.jsonserde.JsonSerDe'
with serdeproperties ('ignore.malformed.json' = 'true')
stored as inputformat 'org.apache.hadoop.mapred.TextInputFormat'
    outputformat 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
location '{landing}/accelerometer/landing/'
tblproperties ('classification' = 'json');
