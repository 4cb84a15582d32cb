-- Each warning's answers that stand: the latest (shown), and the first (kept its deadline?).
CREATE OR REPLACE TEMP TABLE _jz_feedback AS
SELECT warning_id,
       arg_max(check_result || coalesce('，' || measure, '') || '（' || strftime(check_date, '%Y-%m-%d') || '）',
               (check_date, file_id, source_row)) AS last_feedback,
       min(check_date) AS first_feedback_on
FROM {valid_feedback} WHERE check_date <= $as_of GROUP BY warning_id;
