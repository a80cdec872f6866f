-- One row per customer, as the newest website record describes them. Holds PII (email, name, phone,
-- birthday): grant it only to the roles named in README.md; every other table carries customer_key only.
-- DISTSTYLE ALL: small and joined to every reading table, so a copy on each node avoids redistribution.
create table if not exists stedi.customers (
    customer_key        varchar(64)  not null,  -- keyed hash (HMAC-SHA256) of the normalised email
    customer_email      varchar(256) not null,
    customer_name       varchar(256),
    phone_number        varchar(32),
    birth_date          date,                   -- NULL when implausible (stedi/rules.py), see the flag
    is_birth_date_implausible boolean not null,
    registered_at       timestamp,
    last_updated_at     timestamp,
    primary key (customer_key)
)
diststyle all
sortkey (customer_key);
