-- Medical insurance (医保): each roster person's out-of-pocket costs and visits in the policy's
-- windows. A reversal's negative amount nets out in the sums, and it is no visit.
-- Read by household_features.sql.
CREATE OR REPLACE TEMP TABLE _jz_features_yb AS
WITH settlements AS (  -- added up by ID number, then keyed: a row per person joined, not a row per settlement
    SELECT k.person_key, s.* EXCLUDE (id_number) FROM (
        SELECT id_number,
               sum(out_of_pocket) FILTER (WHERE settlement_date > $as_of - INTERVAL ($trend_months) MONTH) AS oop_3m,
               sum(out_of_pocket) FILTER (WHERE settlement_date > $as_of - INTERVAL (2 * $trend_months) MONTH) AS oop_6m,
               sum(out_of_pocket) FILTER (WHERE settlement_date > $as_of - INTERVAL ($medical_window_months) MONTH) AS oop_12m,
               sum(out_of_pocket) FILTER (WHERE settlement_date > $as_of - INTERVAL (2 * $trend_months) MONTH
                                            AND settlement_date <= $as_of - INTERVAL ($trend_months) MONTH) AS oop_prev_3m,
               count(*) FILTER (WHERE settlement_date > $as_of - INTERVAL ($medical_window_months) MONTH
                                  AND reverses IS NULL) AS settlements_12m,
               count(*) FILTER (WHERE settlement_date > $as_of - INTERVAL ($inpatient_months) MONTH
                                  AND visit_type = '住院' AND reverses IS NULL) AS inpatient_12m,
               -- recent outpatient visits against the months before: a work-up before a diagnosis shows here
               count(*) FILTER (WHERE settlement_date > $as_of - INTERVAL ($outpatient_recent_months) MONTH
                                  AND visit_type = '普通门诊' AND reverses IS NULL) AS outpatient_2m,
               count(*) FILTER (WHERE settlement_date > $as_of - INTERVAL ($outpatient_recent_months + $outpatient_baseline_months) MONTH
                                  AND settlement_date <= $as_of - INTERVAL ($outpatient_recent_months) MONTH
                                  AND visit_type = '普通门诊' AND reverses IS NULL) AS outpatient_prev_6m
        FROM {yb_settlements_rows}
        -- older than every window above: counts nowhere; nor does anyone but the members read
        WHERE id_number IN (SELECT k.id_number FROM {core}.household_members JOIN {restricted}.person_ids k USING (person_key))
          AND settlement_date <= $as_of
          AND settlement_date > $as_of - INTERVAL (greatest($medical_window_months, $inpatient_months, 2 * $trend_months,
                                                            $outpatient_recent_months + $outpatient_baseline_months)) MONTH
        GROUP BY id_number
    ) s JOIN {restricted}.person_ids k USING (id_number)
)
SELECT person_key, s.oop_3m, s.oop_6m, s.oop_12m, s.oop_prev_3m, s.settlements_12m, s.inpatient_12m,
       s.outpatient_2m, s.outpatient_prev_6m
FROM (SELECT DISTINCT person_key FROM {core}.household_members) LEFT JOIN settlements s USING (person_key)
