-- 已在保 reported in the last 30 days, but the rolls show no one of the household on assistance:
-- the rolls lag behind.
INSERT INTO monitoring.data_lag_cases (as_of_date, warning_id, household_id, check_date, note)
SELECT DISTINCT $as_of, fb.warning_id, w.household_id, fb.check_date,
       '镇街反馈“已在保”，但救助名册中该户无人在保：请县民政局核实名册是否滞后'
FROM {valid_feedback} fb
JOIN monitoring.warnings w ON w.warning_id = fb.warning_id AND w.as_of_date = $as_of
JOIN core.household_features f ON f.household_id = w.household_id
WHERE fb.check_result = '已在保' AND fb.check_date <= $as_of AND fb.check_date > $as_of - INTERVAL 30 DAY
  AND f.on_dibao + f.on_tekun + f.on_dibao_edge = 0;
