-- Each person's assistance records known on the night: category, dates, amounts, and whether
-- active that night (started, not ended, not stopped).
CREATE OR REPLACE TABLE {core}.assistance AS
SELECT person_key, household_id, category, start_date, end_date, status, monthly_amount,
       basic_living, care_allowance, care_level, support_mode,
       start_date <= $as_of AND (end_date IS NULL OR end_date > $as_of) AND coalesce(status, '在保') = '在保' AS active,
       $as_of AS as_of_date
FROM {mz_assistance} WHERE start_date <= $as_of
