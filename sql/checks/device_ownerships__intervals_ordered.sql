-- Ownership intervals that end before they start.
select count(*) as offending
from stedi.device_ownerships
where owned_from is not null and owned_until is not null and owned_until < owned_from
