-- Persons in other feeds but not on the roster (residence-permit holders, item 15): routed by the
-- township their petition names, else the one their usual clinic is in, else the county centre,
-- with the reason.
-- {seen_records}: (id_number, feed) of each feed with an ID column but the roster's.
-- By ID number until the end: only the outsiders' own records are read, and only they are keyed.
CREATE OR REPLACE TABLE {core}.persons_outside_roster AS
WITH seen AS (  -- only those off the roster: the rest of the statement reads their records alone
    SELECT id_number, list(DISTINCT feed ORDER BY feed) AS feeds FROM ({seen_records})
    WHERE id_number NOT IN (SELECT id_number FROM {mz_members_rows} WHERE id_number IS NOT NULL)
    GROUP BY id_number
), petition_town AS (
    -- two petitions the same day: the later petition_id
    SELECT id_number, arg_max(township_code, (registration_date, petition_id)) AS township_code
    FROM {xf_petitions_rows} SEMI JOIN seen USING (id_number)
    WHERE township_code IS NOT NULL AND township_code <> $fallback_township GROUP BY id_number
), towns AS (  -- every name a township goes by (config/townships.csv), the county centre's aside
    SELECT unnest($town_codes) AS code, unnest($town_names) AS name
), facility_town AS (  -- the township named by the clinic or hospital they use most
    -- (not mode(), which breaks a tie by whichever thread came first: a tie goes to the lower code)
    SELECT id_number, code AS township_code FROM (
        SELECT id_number, towns.code, count(*) AS n
        FROM {yb_settlements_rows} s SEMI JOIN seen USING (id_number) JOIN towns ON contains(s.facility, towns.name)
        GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY id_number ORDER BY n DESC, code) = 1
)
SELECT k.person_key, s.feeds,
       coalesce(t.township_code, f.township_code, $fallback_township) AS township_code,
       CASE WHEN t.township_code IS NOT NULL THEN '不在民政名册，按信访事项的问题属地分派'
            WHEN f.township_code IS NOT NULL THEN '不在民政名册，按常去就医机构所在镇街分派'
            ELSE '不在民政名册，数据中没有可识别的镇街，转县社会救助综合服务中心' END AS routing_note,
       $as_of AS as_of_date
FROM seen s JOIN {restricted}.person_ids k USING (id_number)
LEFT JOIN petition_town t USING (id_number) LEFT JOIN facility_town f USING (id_number)
