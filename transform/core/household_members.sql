-- The roster as it stood on the night: one row per member of each household (a person on two
-- households' rolls has a row in each, and households_count says so). Birth date and sex come from
-- the ID number; age is in whole years on the night.
CREATE OR REPLACE TABLE {core}.household_members AS
SELECT m.household_id, p.person_key, m.name, m.relation_to_head, m.residence_type,
       m.township_code, m.township_name, m.township_note, m.village, m.address, m.phone,
       m.work_ability, m.disability_grade, m.school_stage, p.birth_date, p.sex,
       date_part('year', age($as_of::TIMESTAMP, p.birth_date::TIMESTAMP))::INTEGER AS age,
       c.households_count,
       $as_of AS as_of_date
FROM {mz_members_rows} m  -- by ID number: keyed and dated from it in one join
JOIN (SELECT id_number, person_key, strptime(id_number[7:14], '%Y%m%d')::DATE AS birth_date,
             CASE WHEN id_number[17]::INTEGER % 2 = 1 THEN '男' ELSE '女' END AS sex
      FROM {restricted}.person_ids) p USING (id_number)
-- the households whose rolls name the person (counted apart: a window over every column costs more)
JOIN (SELECT id_number, count(*) AS households_count FROM {mz_members_rows} GROUP BY id_number) c USING (id_number)
