-- 情况不属实 holds back the same codes for $not_true_suppression_days, unless the figures got worse
-- by more than $worse_by (a share) since the warning that was answered.
UPDATE monitoring.rule_hits h SET suppressed = true FROM (
    SELECT DISTINCT w.subject_id, code, prev.severity AS severity_then
    FROM {valid_feedback} fb
    JOIN monitoring.warnings w ON w.warning_id = fb.warning_id
         AND w.as_of_date = (SELECT max(as_of_date) FROM monitoring.warnings w2
                             WHERE w2.warning_id = fb.warning_id AND w2.as_of_date <= fb.check_date)
    CROSS JOIN unnest(w.rule_codes) AS u(code)
    LEFT JOIN monitoring.rule_hits prev ON prev.as_of_date = w.as_of_date
         AND prev.subject_id = w.subject_id AND prev.rule_code = code
    WHERE fb.check_result = '情况不属实' AND fb.check_date <= $as_of
      AND fb.check_date > $as_of - INTERVAL ($not_true_suppression_days) DAY
) s
WHERE h.as_of_date = $as_of AND h.subject_id = s.subject_id AND h.rule_code = s.code
  AND (s.severity_then IS NULL OR h.severity <= s.severity_then * (1 + $worse_by));
