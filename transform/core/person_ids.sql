-- Every valid ID number seen in any feed on the night, and its person key. Restricted: only the
-- exports read ID numbers; every other table holds the key.
-- {id_numbers}: the ID numbers of each feed with an ID column (config/feeds.yaml), as of the night.
-- An ID number is hashed once, the first night it is seen, and its key kept in {person_keys}: the
-- HMAC of every ID number again cost 2-4 s a night, and as much for each month end built for training.
CREATE TABLE IF NOT EXISTS {person_keys} (id_number VARCHAR NOT NULL, person_key VARCHAR NOT NULL);
CREATE OR REPLACE TEMP TABLE _jz_id_numbers AS {id_numbers};
INSERT INTO {person_keys} (id_number, person_key)
SELECT id_number, jz_person_key(id_number) FROM _jz_id_numbers ANTI JOIN {person_keys} USING (id_number);
-- Kept from night to night and brought up to date: the persons no longer seen out, the new ones in (most
-- stay). Written again whole, the 630,000 keys of the county default had cost 1.5 s a night.
CREATE TABLE IF NOT EXISTS {restricted}.person_ids (id_number VARCHAR, person_key VARCHAR);
DELETE FROM {restricted}.person_ids
WHERE id_number IN (SELECT id_number FROM {restricted}.person_ids ANTI JOIN _jz_id_numbers USING (id_number));
INSERT INTO {restricted}.person_ids (id_number, person_key)
SELECT id_number, k.person_key
FROM (FROM _jz_id_numbers ANTI JOIN {restricted}.person_ids USING (id_number)) JOIN {person_keys} k USING (id_number);
DROP TABLE _jz_id_numbers;
