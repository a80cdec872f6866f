-- Under the as-of consent policy, training examples taken before the customer's research consent.
select count(*) as offending
from stedi.machine_learning_training_set as examples
inner join stedi.customer_consents as consents
    on consents.customer_key = examples.customer_key
    and consents.consent_type = 'research'
inner join stedi.lake_snapshot as snapshot
    on snapshot.consent_policy = 'as-of'
where examples.reading_at < consents.consented_at
