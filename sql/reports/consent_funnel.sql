-- Consent funnel: customers landed, with research consent, with readings, in the training set.
with customers as (
    select customer_key from stedi.customers
),

research_consents as (
    select customer_key from stedi.customer_consents where consent_type = 'research'
),

with_readings as (
    select distinct customer_key from stedi.accelerometer_readings
),

in_training_set as (
    select distinct customer_key from stedi.machine_learning_training_set
),

final as (
    select 1 as step, 'customers landed' as stage, count(*) as customers from customers
    union all
    select 2 as step, 'gave research consent' as stage, count(*) as customers from research_consents
    union all
    select 3 as step, 'with accelerometer readings' as stage, count(*) as customers from with_readings
    union all
    select 4 as step, 'in the training set' as stage, count(*) as customers from in_training_set
)

select step, stage, customers
from final
order by step
