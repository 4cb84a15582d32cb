-- Every valid ID number seen in any feed on the night, and its person key. Restricted: only the
-- exports read ID numbers; every other table holds the key.
-- {id_numbers}: the ID numbers of each feed with an ID column (config/feeds.yaml), as of the night.
CREATE OR REPLACE TABLE {restricted}.person_ids AS
SELECT id_number, jz_person_key(id_number) AS person_key FROM ({id_numbers})
