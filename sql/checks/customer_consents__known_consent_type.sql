-- Consents of a kind the website does not offer.
select count(*) as offending
from stedi.customer_consents
where consent_type not in ('research', 'public', 'friends')
