-- After a load of changes: step-trainer readings attributed to a customer who did not own the device at
-- reading time (the ownership rule, stedi/rules.py), among the readings it merged and the readings of a
-- device whose ownerships it merged or retracted. Any other reading, with its device's ownerships, passed
-- ../step_trainer_readings__owner_at_reading_time.sql in the load that brought it.
select count(*) as offending
from stedi.step_trainer_readings as readings
where (
    exists (
        select 1
        from staging_step_trainer_readings as merged
        where merged.serial_number = readings.serial_number
            and merged.reading_at = readings.reading_at
    )
    or exists (
        select 1
        from staging_device_ownerships as merged
        where merged.serial_number = readings.serial_number
    )
    or exists (
        select 1
        from retracted_device_ownerships as gone
        where gone.serial_number = readings.serial_number
    )
)
and not exists (
    select 1
    from stedi.device_ownerships as owners
    where owners.serial_number = readings.serial_number
        and owners.customer_key = readings.customer_key
        and {{ owned_at("readings.reading_at", "owners.owned_from", "owners.owned_until") }}
)
