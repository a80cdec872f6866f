-- Under the as-of consent policy, training examples the consent rule (stedi/rules.py) leaves out.
select count(*) as offending
from stedi.machine_learning_training_set as examples
inner join stedi.customer_consents as consents
    on consents.customer_key = examples.customer_key
    and consents.consent_type = 'research'
inner join stedi.lake_snapshot as snapshot
    on snapshot.consent_policy = 'as-of'
where not {{ consented("as-of", "examples.reading_at", "consents.consented_at") }}
