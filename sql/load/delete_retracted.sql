-- Remove the target rows a gold version retracted against the version the warehouse held (a withdrawn
-- consent, a reading that now conflicts): rows of that version it no longer has, unless their key came
-- back with new values (staged and merged above). Placeholders are filled from the catalog (sql/gold).
delete from {target}
where exists (
    select 1
    from {retracted} as retracted
    where {key_match_retracted}
)
and not exists (
    select 1
    from {staging} as source
    where {key_match_target}
)
