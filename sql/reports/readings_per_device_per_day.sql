-- Step-trainer readings per device per day, with the day's distance range.
with readings as (
    select serial_number, cast(reading_at as date) as reading_date, distance_cm
    from stedi.step_trainer_readings
),

final as (
    select
        serial_number,
        reading_date,
        count(*) as readings,
        min(distance_cm) as min_distance_cm,
        max(distance_cm) as max_distance_cm
    from readings
    group by serial_number, reading_date
)

select serial_number, reading_date, readings, min_distance_cm, max_distance_cm
from final
order by reading_date, serial_number
