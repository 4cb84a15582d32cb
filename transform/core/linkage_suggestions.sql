-- Likely persons for rows quarantined for their ID number, for an analyst to confirm: never a join
-- by guesswork, suggestions with their evidence. Blocks: the same name (then birth date and region
-- from the broken number decide the score), or the same birth date and a name one character apart.
-- Weights from config/linkage.yaml.
-- The rows of the files the night reads: each snapshot feed's snapshot in force (an older snapshot's
-- broken row comes again in the newer one, or the person left), and the other feeds' files extracted
-- in the last $suggest_within_months months. Older rows stay in audit.quarantine, where nothing is
-- lost; suggesting them again every night made the step grow with the deployment's age.
CREATE OR REPLACE TABLE {core}.linkage_suggestions AS
WITH shown AS (
    SELECT f.file_id
    FROM audit.files f
    WHERE f.status = 'loaded' AND f.extract_date <= $as_of
      AND CASE WHEN list_contains($snapshot_feeds, f.feed)
               THEN f.extract_date = (SELECT max(s.extract_date) FROM audit.files s  -- transform/staging: in force
                                      WHERE s.feed = f.feed AND s.status = 'loaded' AND s.rows_read > 0
                                        AND s.extract_date <= $as_of)
               ELSE f.extract_date > $as_of - INTERVAL ($suggest_within_months) MONTH END
), broken AS (
    SELECT q.feed, q.file_name, q.row_number, q.reason_code,
           jz_text(coalesce(q.raw ->> '姓名', '')) AS name,
           regexp_replace(coalesce(q.raw ->> '身份证号', ''), '[^0-9Xx]', '', 'g') AS digits
    FROM audit.quarantine q SEMI JOIN shown USING (file_id)
    WHERE q.stage = 'staging' AND q.reason_code IN ('ID_CHECKSUM', 'ID_BIRTHDATE', 'ID_PRECISION_LOST', 'ID_FORMAT')
), clues AS MATERIALIZED (  -- each row with what its broken number still says
    SELECT *,
           CASE WHEN length(digits) = 18 THEN try_strptime(digits[7:14], '%Y%m%d')::DATE
                WHEN length(digits) = 15 THEN try_strptime('19' || digits[7:12], '%Y%m%d')::DATE END AS birth_date,
           CASE WHEN length(digits) IN (15, 18) THEN digits[1:6] END AS region
    FROM broken WHERE name IS NOT NULL
), clue_keys AS MATERIALIZED (  -- each clue once (clue): a person's broken row comes again in every snapshot,
    -- and candidates depend on the clue alone; ranked on narrow rows, named once kept
    SELECT name, birth_date, region, row_number() OVER () AS clue
    FROM (SELECT DISTINCT name, birth_date, region FROM clues)
), candidates AS (
    SELECT c.clue, c.name, c.birth_date, c.region, p.person_key, p.name AS candidate_name,
           p.birth_date AS candidate_birth_date, p.id_region
    FROM clue_keys c JOIN {core}.persons p ON p.name = c.name
    UNION ALL
    SELECT c.clue, c.name, c.birth_date, c.region, p.person_key, p.name, p.birth_date, p.id_region
    FROM clue_keys c JOIN {core}.persons p ON p.birth_date = c.birth_date AND p.name <> c.name
    WHERE levenshtein(p.name, c.name) = 1
), scored AS (
    SELECT *,
           (CASE WHEN candidate_name = name THEN $same_name ELSE $name_one_character_apart END)
         + (CASE WHEN candidate_birth_date = birth_date THEN $same_birth_date ELSE 0 END)
         + (CASE WHEN id_region = region THEN $same_region ELSE 0 END)
         + (CASE WHEN birth_date IS NOT NULL AND candidate_birth_date <> birth_date THEN $different_birth_date ELSE 0 END) AS score
    FROM candidates
), kept AS (
    SELECT s.*,
           -- equal scores by the candidate's ID number, never the keyed person_key (another key, another order)
           row_number() OVER (PARTITION BY s.clue ORDER BY s.score DESC, k.id_number) AS rank
    FROM scored s JOIN {restricted}.person_ids k USING (person_key) WHERE s.score >= $min_score
    QUALIFY rank <= $max_suggestions
)
SELECT c.feed, c.file_name, c.row_number, c.reason_code, s.person_key AS suggested_person_key,
       -- a person in two households: the first household_id, not any
       (SELECT min(household_id) FROM {core}.household_members m WHERE m.person_key = s.person_key) AS suggested_household_id,
       round(s.score, 2) AS score,
       concat_ws('；',
           CASE WHEN s.candidate_name = s.name THEN '姓名相同' ELSE '姓名相差一字' END,
           CASE WHEN s.candidate_birth_date = s.birth_date THEN '出生日期相同'
                WHEN s.birth_date IS NULL THEN '号码中无可用的出生日期' ELSE '出生日期不同' END,
           CASE WHEN s.id_region = s.region THEN '户籍地区码相同' END) AS evidence,
       s.rank
FROM kept s JOIN clue_keys k USING (clue)
JOIN clues c ON c.name = k.name AND c.birth_date IS NOT DISTINCT FROM k.birth_date AND c.region IS NOT DISTINCT FROM k.region
