-- Health (卫健): each roster person's serious and chronic illness and death, as known on the night.
-- Read by features_rs.sql (contributions before a death) and household_features.sql.
CREATE OR REPLACE TEMP TABLE _jz_features_wj AS
WITH diagnoses AS (
    SELECT person_key,
           min(diagnosis_date) FILTER (WHERE illness_category = '大病') AS first_serious_illness,
           max(diagnosis_date) FILTER (WHERE illness_category = '大病') AS last_serious_illness,
           bool_or(diagnosis_date > $as_of - INTERVAL ($serious_illness_window_months) MONTH)
               FILTER (WHERE illness_category = '大病') AS serious_illness_24m,
           count(*) FILTER (WHERE illness_category IN ('慢性病', '罕见病')) AS chronic_conditions
    FROM {wj_diagnoses} WHERE diagnosis_date <= $as_of
    GROUP BY person_key
), deaths AS (
    SELECT person_key, min(death_date) AS death_date FROM {wj_deaths} WHERE death_date <= $as_of GROUP BY person_key
)
SELECT person_key, d.first_serious_illness, d.last_serious_illness, coalesce(d.serious_illness_24m, false) AS serious_illness_24m,
       coalesce(d.chronic_conditions, 0) AS chronic_conditions, x.death_date
FROM (SELECT DISTINCT person_key FROM {core}.household_members)
LEFT JOIN diagnoses d USING (person_key) LEFT JOIN deaths x USING (person_key)
