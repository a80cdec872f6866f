-- After a load of changes: training examples of customers who never gave research consent, among the
-- examples of a step or motion reading it merged and those of a customer whose consent it retracted. Any
-- other example, with its customer's consents, passed ../machine_learning_training_set__consenting_customers_only.sql
-- in the load that brought it. An example is a step and a motion of one customer at one instant, as the
-- view machine_learning_training_set pairs them (sql/gold).
with changed as (
    select steps.customer_key, steps.serial_number, steps.reading_at, motions.reading_seq
    from staging_step_trainer_readings as merged
    inner join stedi.step_trainer_readings as steps
        on steps.serial_number = merged.serial_number
        and steps.reading_at = merged.reading_at
    inner join stedi.accelerometer_readings as motions
        on motions.customer_key = steps.customer_key
        and motions.reading_at = steps.reading_at
    union
    select steps.customer_key, steps.serial_number, steps.reading_at, motions.reading_seq
    from staging_accelerometer_readings as merged
    inner join stedi.accelerometer_readings as motions
        on motions.customer_key = merged.customer_key
        and motions.reading_at = merged.reading_at
        and motions.reading_seq = merged.reading_seq
    inner join stedi.step_trainer_readings as steps
        on steps.customer_key = motions.customer_key
        and steps.reading_at = motions.reading_at
    union
    select steps.customer_key, steps.serial_number, steps.reading_at, motions.reading_seq
    from stedi.step_trainer_readings as steps
    inner join stedi.accelerometer_readings as motions
        on motions.customer_key = steps.customer_key
        and motions.reading_at = steps.reading_at
    where steps.customer_key in (
        select gone.customer_key
        from retracted_customer_consents as gone
        where gone.consent_type = 'research'
    )
)

select count(*) as offending
from changed as examples
where not exists (
    select 1
    from stedi.customer_consents as consents
    where consents.customer_key = examples.customer_key
        and consents.consent_type = 'research'
)
