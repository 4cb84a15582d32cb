-- Persons outside the roster (core.persons_outside_roster): medical spending (R03) and hardship
-- petitions (R08), in the words of the household rules (models/rules.py). A rule whose feed the
-- night's gate closed ($closed_feeds) finds nothing; its status says why.
-- $outsider_rules: each code's name, level, policy items, departments and measure (models.rules).
-- One union: R08's count takes the type of R03's amount, as the figures have always shown it.
-- found_by: the latest record the rule counted, for a township to find someone with no address on
-- the roster (the settlement's clinic, the petition's form and township); never an ID number.
INSERT INTO monitoring.rule_hits (as_of_date, subject_type, subject_id, rule_code, rule_name, level, figures,
                                  threshold, policy_items, reason, departments, measure, severity, suppressed,
                                  found_by)
WITH medical AS (
    SELECT o.person_key, 'R03' AS code, sum(s.out_of_pocket) AS figure,
           count(*) FILTER (WHERE s.reverses IS NULL) AS n,
           '近' || $medical_window_months || '个月医疗自付 ' || format('{:,.0f}', sum(s.out_of_pocket)::DOUBLE) || ' 元（医保结算 ' ||
           count(*) FILTER (WHERE s.reverses IS NULL) || ' 笔，冲销已扣除），超过预警线 ' ||
           format('{:,}', $medical_out_of_pocket_threshold) || ' 元' AS reason,
           arg_max('医保结算 ' || s.settlement_id || '（' || strftime(s.settlement_date, '%Y-%m-%d') ||
                   coalesce('，定点机构 ' || s.facility, '') || '）', (s.settlement_date, s.settlement_id))
               FILTER (WHERE s.reverses IS NULL) AS found_by  -- a visit, not the reversal of one
    FROM core.persons_outside_roster o JOIN restricted.person_ids p USING (person_key)
    JOIN {yb_settlements} s ON s.id_number = p.id_number
    WHERE NOT list_contains($closed_feeds::VARCHAR[], 'yb_settlements')
      AND s.settlement_date <= $as_of AND s.settlement_date > $as_of - INTERVAL ($medical_window_months) MONTH
    GROUP BY o.person_key HAVING sum(s.out_of_pocket) >= $medical_out_of_pocket_threshold
), petitions AS (
    -- the same reading as for households (transform/hardship.py): hardship "whatever its category"
    SELECT o.person_key, 'R08' AS code, count(*) AS figure, count(*) AS n,
           '近' || $petition_window_days || '天有 ' || count(*) || ' 件反映生活困难的信访（不在民政名册）' ||
           coalesce('：“' || arg_max(x.hardship_phrase, (x.registration_date, x.petition_id)) FILTER (WHERE x.hardship_phrase IS NOT NULL) || '”', '')
               AS reason,
           arg_max('信访件 ' || x.petition_id || '（' || strftime(x.registration_date, '%Y-%m-%d') ||
                   coalesce(' ' || x.petition_form, '') ||
                   CASE WHEN x.township_code <> $fallback_township THEN '，问题属地 ' || x.township_name ELSE '' END ||
                   '）', (x.registration_date, x.petition_id)) AS found_by
    FROM core.persons_outside_roster o JOIN restricted.person_ids p USING (person_key)
    JOIN {hardship_petitions} x ON x.id_number = p.id_number
    WHERE NOT list_contains($closed_feeds::VARCHAR[], 'xf_petitions')
      AND x.registration_date <= $as_of AND x.registration_date > $as_of - INTERVAL ($petition_window_days) DAY
      AND x.hardship
    GROUP BY o.person_key
), rules AS (
    SELECT unnest($outsider_rules, recursive := true)
)
SELECT $as_of, 'person', h.person_key, h.code, r.name, r.level, json_object('figure', h.figure, 'records', h.n),
       CASE h.code WHEN 'R03' THEN $medical_out_of_pocket_threshold::VARCHAR ELSE '近' || $petition_window_days || '天困难类信访' END,
       r.policy_items, h.reason, r.departments, r.measure, h.figure::DOUBLE, false, h.found_by
FROM (SELECT * FROM medical UNION ALL SELECT * FROM petitions) h JOIN rules r USING (code);
