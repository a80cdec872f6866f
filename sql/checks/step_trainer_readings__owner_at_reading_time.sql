-- Step-trainer readings attributed to a customer who did not own the device at reading time.
select count(*) as offending
from stedi.step_trainer_readings as readings
where not exists (
    select 1
    from stedi.device_ownerships as owners
    where owners.serial_number = readings.serial_number
        and owners.customer_key = readings.customer_key
        and (owners.owned_from is null or readings.reading_at >= owners.owned_from)
        and (owners.owned_until is null or readings.reading_at < owners.owned_until)
)
