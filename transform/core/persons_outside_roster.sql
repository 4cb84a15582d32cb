-- Persons in other feeds but not on the roster (residence-permit holders, item 15): routed by the
-- township their petition names, else the one their usual clinic is in, else the county centre,
-- with the reason.
-- {seen_records}: (person_key, feed) of each feed with an ID column but the roster's.
CREATE OR REPLACE TABLE {core}.persons_outside_roster AS
WITH seen AS (  -- only those off the roster: the rest of the statement reads their records alone
    SELECT person_key, list(DISTINCT feed ORDER BY feed) AS feeds FROM ({seen_records})
    WHERE person_key NOT IN (SELECT person_key FROM {core}.household_members)
    GROUP BY person_key
), petition_town AS (
    -- two petitions the same day: the later petition_id
    SELECT person_key, arg_max(township_code, (registration_date, petition_id)) AS township_code
    FROM {xf_petitions} SEMI JOIN seen USING (person_key)
    WHERE township_code IS NOT NULL AND township_code <> $fallback_township GROUP BY person_key
), towns AS (  -- every name a township goes by (config/townships.csv), the county centre's aside
    SELECT unnest($town_codes) AS code, unnest($town_names) AS name
), facility_town AS (  -- the township named by the clinic or hospital they use most
    -- (not mode(), which breaks a tie by whichever thread came first: a tie goes to the lower code)
    SELECT person_key, code AS township_code FROM (
        SELECT person_key, towns.code, count(*) AS n
        FROM {yb_settlements} s SEMI JOIN seen USING (person_key) JOIN towns ON contains(s.facility, towns.name)
        GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY person_key ORDER BY n DESC, code) = 1
)
SELECT s.person_key, s.feeds,
       coalesce(t.township_code, f.township_code, $fallback_township) AS township_code,
       CASE WHEN t.township_code IS NOT NULL THEN '不在民政名册，按信访事项的问题属地分派'
            WHEN f.township_code IS NOT NULL THEN '不在民政名册，按常去就医机构所在镇街分派'
            ELSE '不在民政名册，数据中没有可识别的镇街，转县社会救助综合服务中心' END AS routing_note,
       $as_of AS as_of_date
FROM seen s LEFT JOIN petition_town t USING (person_key) LEFT JOIN facility_town f USING (person_key)
