-- Step-trainer readings attributed to a customer who did not own the device at reading time (the
-- ownership rule, stedi/rules.py).
select count(*) as offending
from stedi.step_trainer_readings as readings
where not exists (
    select 1
    from stedi.device_ownerships as owners
    where owners.serial_number = readings.serial_number
        and owners.customer_key = readings.customer_key
        and {{ owned_at("readings.reading_at", "owners.owned_from", "owners.owned_until") }}
)
