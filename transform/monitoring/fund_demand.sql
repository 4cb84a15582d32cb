-- Each household's monthly fund demand under the policy bound (its standards are in
-- {core}.household_features, built under it), programme by programme, beside what the rolls pay
-- tonight (月保障金额 of the active records), with the component of the difference it falls in:
--   by_formula     on the roll and eligible by its verified income: the formula against the amount paid
--   not_on_roll    eligible by its verified income, not on the roll (低保: R01's households)
--   not_verified   on the roll, no verification within the policy's months: paid, no formula
--   not_eligible   on the roll, verified, not eligible by the formula (核对结论不符合, or the income too high)
--   off_roster     on the roll under a 户编号 the roster does not list tonight: paid, no standard to compute by
--   past_rate      临时救助: the grants of the past months, a month's average (scaled to the standard bound)
--   not_in_policy  孤儿: an amount this policy file does not set, counted as paid
CREATE OR REPLACE TEMP TABLE _jz_demand AS
WITH verified AS (
    SELECT household_id, township_code, residence_type, members, dibao_standard,
           per_capita_monthly_income AS income,
           -- a verified income that may decide eligibility, outside 特困 (paid by its own programme)
           per_capita_monthly_income IS NOT NULL AND coalesce(verification_result, '') <> '不符合' AND on_tekun = 0
               AS usable
    FROM {core}.household_features
), features AS (
    SELECT *, usable AND income < dibao_standard AS dibao_eligible,
           usable AND income >= dibao_standard AND income < $dibao_edge_multiple * dibao_standard AS edge_eligible
    FROM verified
), roll AS (  -- the active records of each household, by programme
    SELECT a.household_id,
           CASE WHEN a.category IN ('城市低保', '农村低保') THEN '低保' WHEN a.category = '特困供养' THEN '特困'
                ELSE a.category END AS programme,
           count(*) AS persons, sum(coalesce(a.monthly_amount, 0)) AS recorded,
           -- 特困: basic living at least the multiple of the standard, care at least its share of the
           -- minimum wage by care level (no level: none), each rounded up to the policy's unit
           sum(ceil(round($tekun_basic_multiple * f.dibao_standard / $round_to, 6)) * $round_to
               + ceil(round($minimum_wage * coalesce($care_share_of_minimum_wage[a.care_level], 0) / $round_to, 6))
                 * $round_to) AS tekun_due
    FROM {core}.assistance a LEFT JOIN features f USING (household_id)
    WHERE a.active AND a.category IN ('城市低保', '农村低保', '特困供养', '低保边缘', '孤儿')
    GROUP BY ALL
), means_tested AS (  -- 低保 and 低保边缘: the households on the roll or eligible by their verified income
    SELECT household_id, programme, r.household_id IS NOT NULL AS on_roll, f.household_id IS NOT NULL AS in_roster,
           CASE programme WHEN '低保' THEN f.dibao_eligible ELSE f.edge_eligible END AS eligible,
           f.income IS NOT NULL AS verified,
           coalesce(r.persons, f.members) AS persons, coalesce(r.recorded, 0) AS recorded,
           f.members * CASE programme
               WHEN '低保' THEN greatest(floor((f.dibao_standard - f.income) / $round_to + 0.5) * $round_to,
                                         $dibao_minimum_per_person)
               ELSE $dibao_edge_per_person END AS formula
    FROM (SELECT household_id, programme FROM roll WHERE programme IN ('低保', '低保边缘')
          UNION SELECT household_id, '低保' FROM features WHERE dibao_eligible
          UNION SELECT household_id, '低保边缘' FROM features WHERE edge_eligible) m
    LEFT JOIN roll r USING (household_id, programme) LEFT JOIN features f USING (household_id)
), cases AS (
    SELECT household_id, programme,
           CASE WHEN NOT in_roster THEN 'off_roster' WHEN on_roll AND eligible THEN 'by_formula'
                WHEN NOT on_roll THEN 'not_on_roll' WHEN NOT verified THEN 'not_verified' ELSE 'not_eligible' END AS component,
           coalesce(eligible, false) AS eligible, persons,
           CASE WHEN eligible THEN formula ELSE 0 END AS formula, recorded
    FROM means_tested
    UNION ALL
    SELECT household_id, programme,
           CASE WHEN programme = '孤儿' THEN 'not_in_policy' WHEN tekun_due IS NULL THEN 'off_roster' ELSE 'by_formula' END,
           true, persons, CASE WHEN programme = '特困' THEN coalesce(tekun_due, 0) ELSE recorded END, recorded
    FROM roll WHERE programme IN ('特困', '孤儿')
    UNION ALL  -- 临时救助: one-off grants, a month's average over the past months
    SELECT household_id, '临时救助', 'past_rate', true, count(*),
           coalesce(sum(monthly_amount), 0) / $temporary_assistance_months * $temporary_scale,
           coalesce(sum(monthly_amount), 0) / $temporary_assistance_months
    FROM {core}.assistance
    WHERE category = '临时救助' AND start_date <= $as_of
      AND start_date > $as_of - INTERVAL ($temporary_assistance_months) MONTH
    GROUP BY household_id
)
SELECT c.household_id, coalesce(f.township_code, $fallback_township) AS township_code,
       coalesce(f.residence_type, '未知') AS residence_type, c.programme, c.component, c.eligible,
       c.persons::INTEGER AS persons, round(c.formula, 2)::DECIMAL(14, 2) AS formula,
       round(c.recorded, 2)::DECIMAL(14, 2) AS recorded
FROM cases c LEFT JOIN features f USING (household_id);
