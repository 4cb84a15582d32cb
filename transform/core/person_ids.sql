-- Every valid ID number seen in any feed on the night, and its person key. Restricted: only the
-- exports read ID numbers; every other table holds the key.
-- {id_numbers}: the ID numbers of each feed with an ID column (config/feeds.yaml), as of the night.
-- An ID number is hashed once, the first night it is seen, and its key kept in {person_keys}: the
-- HMAC of every ID number again cost 2-4 s a night, and as much for each month end built for training.
CREATE TABLE IF NOT EXISTS {person_keys} (id_number VARCHAR NOT NULL, person_key VARCHAR NOT NULL);
CREATE OR REPLACE TEMP TABLE _jz_id_numbers AS {id_numbers};
INSERT INTO {person_keys} (id_number, person_key)
SELECT id_number, jz_person_key(id_number) FROM _jz_id_numbers ANTI JOIN {person_keys} USING (id_number);
CREATE OR REPLACE TABLE {restricted}.person_ids AS
SELECT id_number, k.person_key FROM _jz_id_numbers JOIN {person_keys} k USING (id_number);
DROP TABLE _jz_id_numbers;
