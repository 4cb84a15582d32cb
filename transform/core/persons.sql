-- One row per person, keyed by person_key (no ID number): what the ID number says, the name the
-- feeds give, and whether the roster's own birth date and sex agree with the ID number.
-- {named_records}: the names of each feed with a name_priority (config/feeds.yaml), as src, by ID number.
-- Names and the roster's columns by ID number, as person_ids lists the persons: no feed's rows keyed first.
CREATE OR REPLACE TABLE {core}.persons AS
WITH names AS (
    -- the latest extract; two names extracted the same day: the higher name_priority, then the later file and row
    SELECT id_number, arg_max(name, (extract_date, src, file_id, source_row)) AS name
    FROM ({named_records}) WHERE name IS NOT NULL GROUP BY id_number
), roster AS (
    -- a person on two households' rolls: the row of the first household_id, not whichever came first
    SELECT id_number, arg_min(birth_date, household_id) AS roster_birth_date, arg_min(sex, household_id) AS roster_sex
    FROM {mz_members_rows} WHERE id_number IS NOT NULL GROUP BY id_number
)
SELECT p.person_key,
       strptime(p.id_number[7:14], '%Y%m%d')::DATE AS birth_date,
       CASE WHEN p.id_number[17]::INTEGER % 2 = 1 THEN '男' ELSE '女' END AS sex,
       p.id_number[1:6] AS id_region,
       roster.id_number IS NOT NULL AS in_roster,
       names.name,
       -- the roster's own columns checked against what the ID number says
       roster.roster_birth_date IS NOT NULL
           AND roster.roster_birth_date <> strptime(p.id_number[7:14], '%Y%m%d')::DATE AS birth_date_mismatch,
       roster.roster_sex IS NOT NULL
           AND roster.roster_sex <> CASE WHEN p.id_number[17]::INTEGER % 2 = 1 THEN '男' ELSE '女' END AS sex_mismatch,
       $as_of AS as_of_date
FROM {restricted}.person_ids p LEFT JOIN roster USING (id_number) LEFT JOIN names USING (id_number)
