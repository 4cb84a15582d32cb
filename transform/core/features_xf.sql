-- Petitions (信访): each roster person's petitions in the policy's window, and those that tell of
-- hardship: by category, or by what the 诉求内容 says whatever the category (R08: the policy's words
-- or the petition classifier, transform/hardship.py), with the phrase of the latest that says it.
-- Read by household_features.sql.
CREATE OR REPLACE TEMP TABLE _jz_features_xf AS
WITH petitions AS (
    SELECT person_key, count(*) AS petitions_90d,
           count(*) FILTER (WHERE hardship) AS hardship_petitions_90d,
           arg_max(hardship_phrase, (registration_date, petition_id)) FILTER (WHERE hardship_phrase IS NOT NULL)
               AS hardship_phrase,
           max(registration_date) FILTER (WHERE hardship_phrase IS NOT NULL) AS hardship_phrase_date,
           list(DISTINCT petition_category ORDER BY petition_category) FILTER (WHERE petition_category IS NOT NULL) AS petition_categories
    FROM {hardship_petitions}
    WHERE registration_date <= $as_of AND registration_date > $as_of - INTERVAL ($petition_window_days) DAY
      AND person_key IN (SELECT person_key FROM {core}.household_members)
    GROUP BY person_key
)
SELECT person_key, coalesce(p.petitions_90d, 0) AS petitions_90d,
       coalesce(p.hardship_petitions_90d, 0) AS hardship_petitions_90d, p.hardship_phrase, p.hardship_phrase_date,
       p.petition_categories
FROM (SELECT DISTINCT person_key FROM {core}.household_members) LEFT JOIN petitions p USING (person_key)
