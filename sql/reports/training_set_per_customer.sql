-- Training-set size per customer (pseudonymous key), with devices and time span.
with examples as (
    select customer_key, serial_number, reading_at
    from stedi.machine_learning_training_set
),

final as (
    select
        customer_key,
        count(*) as training_examples,
        count(distinct serial_number) as devices,
        min(reading_at) as first_reading_at,
        max(reading_at) as last_reading_at
    from examples
    group by customer_key
)

select customer_key, training_examples, devices, first_reading_at, last_reading_at
from final
order by training_examples desc, customer_key
