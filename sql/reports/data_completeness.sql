-- Data completeness: step-trainer readings with and without an accelerometer reading of the same customer at the same instant.
with step_readings as (
    select customer_key, reading_at from stedi.step_trainer_readings
),

motion_instants as (
    select distinct customer_key, reading_at from stedi.accelerometer_readings
),

classified as (
    select
        case
            when motion_instants.customer_key is null then 'without accelerometer reading'
            else 'with accelerometer reading'
        end as completeness
    from step_readings
    left join motion_instants
        on motion_instants.customer_key = step_readings.customer_key
        and motion_instants.reading_at = step_readings.reading_at
),

final as (
    select completeness, count(*) as step_trainer_readings
    from classified
    group by completeness
)

select
    completeness,
    step_trainer_readings,
    round(100.0 * step_trainer_readings / sum(step_trainer_readings) over (), 1) as share_pct
from final
order by completeness
