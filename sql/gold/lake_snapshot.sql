-- The lake snapshot the warehouse holds: one row saying how it was built. The consent policy decides
-- which readings the training set may contain; development keys are not the production pseudonyms; the
-- gold version is the lake's (<lake>/_zones/gold/<version>/), so a run knows whether the warehouse is behind.
-- DISTSTYLE ALL: a single row.
create table if not exists stedi.lake_snapshot (
    consent_policy          varchar(16)  not null,  -- ever | as-of
    uses_development_key    boolean      not null,
    gold_version            varchar(64)  not null,
    primary key (consent_policy)
)
diststyle all
sortkey (consent_policy);
