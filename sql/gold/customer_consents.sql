-- One row per consent a customer gave: research, public or friends, with when it was given.
-- DISTSTYLE ALL: small; the consent funnel and consent-policy filters join it to the reading tables.
create table if not exists stedi.customer_consents (
    customer_key        varchar(64)  not null,
    consent_type        varchar(16)  not null,  -- research | public | friends
    consented_at        timestamp    not null,
    primary key (customer_key, consent_type),
    foreign key (customer_key) references stedi.customers (customer_key)
)
diststyle all
sortkey (customer_key, consent_type);
