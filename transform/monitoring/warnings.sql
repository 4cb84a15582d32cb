-- The night's warnings: a subject warned the night before ($prev, NULL on the first night) keeps its
-- 预警编号; a new one is numbered by township and subject (户编号, then ID number). due_on: the response days of the
-- warning's level ($response_days) from the night it was issued, or from the night its level
-- last rose; an unanswered warning past it escalates (as before) every night.
INSERT INTO monitoring.warnings (as_of_date, warning_id, household_id, person_masked_id, township_code,
    township_name, village, level, rule_codes, risk_score, departments, reasons, status, first_flagged_on,
    subject_id, measures, last_feedback, level_since, due_on, first_feedback_on, found_by)
WITH towns AS (
    SELECT unnest($township_codes) AS code, unnest($township_names) AS name
), joined AS (
    SELECT t.*, p.warning_id AS prev_id, p.first_flagged_on AS prev_first, p.level AS prev_level,
           coalesce(p.level_since, p.first_flagged_on) AS prev_level_since,
           list_position($level_order, t.level) < list_position($level_order, p.level) AS rose
    FROM _jz_tonight t LEFT JOIN (SELECT * FROM monitoring.warnings WHERE as_of_date = $prev) p
         ON p.subject_id = t.subject_id
), numbered AS (
    -- new warnings numbered by township, households by 户编号 and then persons by ID number: never by
    -- the keyed person_key, which would number them otherwise under another person key
    SELECT joined.*, row_number() OVER (PARTITION BY prev_id IS NULL
                                        ORDER BY township_code, household_id NULLS LAST, k.id_number) AS n,
           CASE WHEN prev_id IS NULL OR rose THEN $as_of ELSE prev_level_since END AS level_since
    FROM joined  -- by the key alone (households: NULL, which matches nobody), see tonight.sql
    LEFT JOIN restricted.person_ids k ON k.person_key = CASE WHEN joined.household_id IS NULL THEN joined.subject_id END
)
SELECT $as_of, coalesce(prev_id, 'YJ-' || strftime($as_of, '%Y%m%d') || '-' || lpad(n::VARCHAR, 6, '0')),
       numbered.household_id, person_masked_id, township_code, towns.name, village, level, rule_codes, sc.risk_score,
       departments, reasons,
       CASE WHEN prev_id IS NULL THEN 'new'
            WHEN rose THEN 'escalated'
            WHEN fb.last_feedback IS NULL AND $as_of - prev_first > $response_days[level] THEN 'escalated'
            ELSE 'continuing' END,
       coalesce(prev_first, $as_of), subject_id, measures, fb.last_feedback,
       level_since, level_since + $response_days[level], fb.first_feedback_on, found_by
FROM numbered JOIN towns ON towns.code = township_code
LEFT JOIN _jz_feedback fb ON fb.warning_id = prev_id
LEFT JOIN (SELECT household_id, risk_score FROM monitoring.household_scores WHERE as_of_date = $as_of) sc
     ON sc.household_id = numbered.household_id;
