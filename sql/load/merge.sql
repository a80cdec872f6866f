-- Upsert the staged snapshot of one gold table into its target, matching on the primary key.
-- Placeholders are filled from the catalog (sql/gold), never from user input.
merge into {target} as target
using {staging} as source
    on {key_match}
{when_matched}when not matched then
    insert ({columns})
    values ({source_columns})
