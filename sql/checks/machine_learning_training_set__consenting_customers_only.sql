-- Training examples of customers who never gave research consent.
select count(*) as offending
from stedi.machine_learning_training_set as examples
where not exists (
    select 1
    from stedi.customer_consents as consents
    where consents.customer_key = examples.customer_key
        and consents.consent_type = 'research'
)
