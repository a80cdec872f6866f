-- The step-trainer landing zone as delivered by the devices: JSON lines, one distance reading each, keyed
-- by the device's serial number. `stedi deploy glue` registers this table itself; to create it by hand in
-- the Athena console, replace {landing} with the landing root. `sensorReadingTime` is epoch milliseconds.
-- Lines that are not JSON (the bronze job quarantines them) are skipped, not fatal: ignore.malformed.json.
create external table if not exists `stedi`.`step_trainer_landing` (
    `sensorReadingTime`  bigint,
    `serialNumber`       string,
    `distanceFromObject` bigint
)
row format serde 'org.openx.data.jsonserde.JsonSerDe'
with serdeproperties ('ignore.malformed.json' = 'true')
stored as inputformat 'org.apache.hadoop.mapred.TextInputFormat'
    outputformat 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
location '{landing}/step_trainer/landing/'
tblproperties ('classification' = 'json');
