-- Remove target rows the new snapshot no longer has (for example a withdrawn consent), so that the
-- target equals the snapshot after every load and a rerun changes nothing.
delete from {target}
where not exists (
    select 1
    from {staging} as source
    where {key_match_target}
)
