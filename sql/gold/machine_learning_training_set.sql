-- The data science team's training set: each step-trainer reading with the same customer's accelerometer
-- readings at the same instant. Never a pairing across customers: the join includes customer_key.
create or replace view stedi.machine_learning_training_set as
with step_readings as (
    select customer_key, serial_number, reading_at, distance_cm
    from stedi.step_trainer_readings
),

motion_readings as (
    select customer_key, reading_at, reading_seq, x, y, z
    from stedi.accelerometer_readings
),

final as (
    select
        step_readings.customer_key,
        step_readings.serial_number,
        step_readings.reading_at,
        step_readings.distance_cm,
        motion_readings.reading_seq,
        motion_readings.x,
        motion_readings.y,
        motion_readings.z
    from step_readings
    inner join motion_readings
        on motion_readings.customer_key = step_readings.customer_key
        and motion_readings.reading_at = step_readings.reading_at
)

select * from final;
