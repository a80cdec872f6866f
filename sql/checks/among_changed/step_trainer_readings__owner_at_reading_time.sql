-- After a load of changes: step-trainer readings attributed to a customer who did not own the device at
-- reading time (the ownership rule, stedi/rules.py), among the readings it merged and the readings of a
-- device whose ownerships it merged or retracted. Any other reading, with its device's ownerships, passed
-- ../step_trainer_readings__owner_at_reading_time.sql in the load that brought it.
with changed as (
    select merged.serial_number, merged.reading_at
    from staging_step_trainer_readings as merged
    union
    select held.serial_number, held.reading_at
    from stedi.step_trainer_readings as held
    where held.serial_number in (
        select merged.serial_number
        from staging_device_ownerships as merged
        union
        select gone.serial_number
        from retracted_device_ownerships as gone
    )
)

select count(*) as offending
from stedi.step_trainer_readings as readings
inner join changed
    on changed.serial_number = readings.serial_number
    and changed.reading_at = readings.reading_at
where not exists (
    select 1
    from stedi.device_ownerships as owners
    where owners.serial_number = readings.serial_number
        and owners.customer_key = readings.customer_key
        and {{ owned_at("readings.reading_at", "owners.owned_from", "owners.owned_until") }}
)
