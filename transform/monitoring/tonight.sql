-- The night's subjects: tonight's hits that are not held back, one row per household or person
-- outside the roster, at its most urgent level ($level_order: most urgent first), with where it is.
CREATE OR REPLACE TEMP TABLE _jz_tonight AS
WITH hits AS (SELECT * FROM monitoring.rule_hits WHERE as_of_date = $as_of AND NOT suppressed),
subjects AS (
    SELECT subject_id, any_value(subject_type) AS subject_type,
           arg_min(level, list_position($level_order, level)) AS level,
           list(rule_code ORDER BY rule_code) AS rule_codes,
           list_sort(list_distinct(flatten(list(departments)))) AS departments,
           string_agg(rule_code || ' ' || rule_name || '：' || reason, '；' ORDER BY rule_code) AS reasons,
           string_agg(DISTINCT measure, '；' ORDER BY measure) AS measures,  -- in a fixed order
           string_agg(found_by, '；' ORDER BY rule_code) AS found_by  -- persons outside the roster
    FROM hits GROUP BY subject_id
)
SELECT s.*,
       CASE WHEN s.subject_type = 'household' THEN s.subject_id END AS household_id,
       CASE WHEN s.subject_type = 'person' THEN jz_mask(p.id_number) END AS person_masked_id,
       coalesce(h.township_code, o.township_code, $fallback_township) AS township_code,
       h.village
FROM subjects s
-- joined by their keys alone (the other kind: a NULL key, which matches nobody); a condition beside
-- the keys would make DuckDB compare every subject with every household
LEFT JOIN core.households h ON h.household_id = CASE WHEN s.subject_type = 'household' THEN s.subject_id END
LEFT JOIN core.persons_outside_roster o ON o.person_key = CASE WHEN s.subject_type = 'person' THEN s.subject_id END
LEFT JOIN restricted.person_ids p ON p.person_key = CASE WHEN s.subject_type = 'person' THEN s.subject_id END;
