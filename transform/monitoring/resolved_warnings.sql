-- The warnings of the night before ($prev) that no hit carries tonight, and why each ended, in
-- words a township reads; with the answer it had, or one that came back the night it ended.
INSERT INTO monitoring.resolved_warnings (as_of_date, warning_id, household_id, person_masked_id,
    township_code, township_name, village, last_level, rule_codes, first_flagged_on, last_flagged_on, outcome,
    ended_because)
SELECT $as_of, p.warning_id, p.household_id, p.person_masked_id, p.township_code, p.township_name, p.village,
       p.level, p.rule_codes, p.first_flagged_on, p.as_of_date, coalesce(fb.last_feedback, p.last_feedback),
       CASE WHEN EXISTS (SELECT 1 FROM monitoring.rule_hits h
                         WHERE h.as_of_date = $as_of AND h.subject_id = p.subject_id AND h.suppressed)
                THEN '镇街核查反馈情况不属实，暂停预警（情况明显变化时会再次预警）'
            WHEN p.household_id IS NOT NULL AND h.household_id IS NULL
                THEN '该户已不在民政名册中'
            WHEN f.on_dibao > 0 THEN '家中已有人纳入低保'
            WHEN f.on_tekun > 0 THEN '家中已有人纳入特困供养'
            ELSE '预警条件不再满足（' || array_to_string(p.rule_codes, '、') || ' 今晚均未命中）' END
FROM (SELECT * FROM monitoring.warnings WHERE as_of_date = $prev) p
LEFT JOIN _jz_feedback fb ON fb.warning_id = p.warning_id
LEFT JOIN core.households h ON h.household_id = p.household_id
LEFT JOIN core.household_features f ON f.household_id = p.household_id
WHERE p.subject_id NOT IN (SELECT subject_id FROM _jz_tonight);
