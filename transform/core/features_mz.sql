-- Civil affairs (民政): what the assistance rolls say of each roster person, and what the economic
-- verification and the 特困 records say of each household. Read by household_features.sql.

-- Each person's assistance on the night (no record: not on it).
CREATE OR REPLACE TEMP TABLE _jz_features_mz AS
WITH assistance AS (
    SELECT person_key,
           bool_or(active AND category IN ('城市低保', '农村低保')) AS on_dibao,
           bool_or(active AND category = '特困供养') AS on_tekun,
           bool_or(active AND category = '低保边缘') AS on_dibao_edge,
           bool_or(active AND category = '临时救助') AS on_temporary,
           bool_or(NOT active AND category IN ('特困供养', '孤儿')) AS tekun_or_orphan_ended,
           sum(CASE WHEN active AND category IN ('城市低保', '农村低保') THEN monthly_amount END) AS dibao_amount,
           count(DISTINCT CASE WHEN active AND category IN ('城市低保', '农村低保', '特困供养') THEN category END) AS active_main_categories,
           -- the same person on the rolls under two 户编号
           count(DISTINCT CASE WHEN active AND category IN ('城市低保', '农村低保', '特困供养') THEN household_id END) AS active_households
    FROM {core}.assistance GROUP BY person_key
), main AS (  -- the active 低保/特困 records, and whether the person has them under more than one 户编号
    SELECT *, min(household_id) OVER (PARTITION BY person_key) < max(household_id) OVER (PARTITION BY person_key)
                  AS in_two_households
    FROM {core}.assistance WHERE active AND category IN ('城市低保', '农村低保', '特困供养')
), paid AS (  -- what is still paid, in words (R10 names it): 农村低保 380 元/月（户编号 …）, in a fixed order
    SELECT person_key,
           string_agg(category || ' ' || coalesce(jz_yuan(monthly_amount) || ' 元/月', '金额未填')
                      || CASE WHEN in_two_households THEN '（户编号 ' || household_id || '）' ELSE '' END,
                      '、' ORDER BY household_id, category, start_date, monthly_amount) AS assistance_paid
    FROM main GROUP BY person_key
)
SELECT person_key, coalesce(a.on_dibao, false) AS on_dibao, coalesce(a.on_tekun, false) AS on_tekun,
       coalesce(a.on_dibao_edge, false) AS on_dibao_edge, coalesce(a.on_temporary, false) AS on_temporary,
       coalesce(a.tekun_or_orphan_ended, false) AS tekun_or_orphan_ended, a.dibao_amount,
       coalesce(a.active_main_categories, 0) AS active_main_categories,
       coalesce(a.active_households, 0) AS active_households, p.assistance_paid
FROM (SELECT DISTINCT person_key FROM {core}.household_members)
LEFT JOIN assistance a USING (person_key) LEFT JOIN paid p USING (person_key);

-- Each household's standard (by the head's 户口性质), its latest verification no older than the
-- policy allows, and its active 特困 records below the standards of item 2 (R11).
CREATE OR REPLACE TEMP TABLE _jz_features_mz_households AS
WITH verification AS (
    -- two verifications on one day: the later verification_id, the same one for every column
    SELECT household_id, arg_max(verification_date, (verification_date, verification_id)) AS verification_date,
           arg_max(annual_income, (verification_date, verification_id)) AS annual_income,
           arg_max(verification_result, (verification_date, verification_id)) AS verification_result,
           arg_max(financial_assets, (verification_date, verification_id)) AS financial_assets
    FROM {mz_verification}
    WHERE verification_date <= $as_of AND verification_date >= $as_of - INTERVAL ($verification_max_age_months) MONTH
    GROUP BY household_id
), standard AS (
    SELECT household_id, members,
           CASE WHEN residence_type = '城镇' THEN $dibao_standard_urban ELSE $dibao_standard_rural END AS dibao_standard
    FROM {core}.households
), tekun_due AS (
    -- what each active 特困 record must pay at least: care shares of the minimum wage by care level;
    -- no level: no care allowance is due
    SELECT a.*, $tekun_basic_multiple * standard.dibao_standard AS basic_due,
           $minimum_wage * coalesce($care_share_of_minimum_wage[a.care_level], 0) AS care_due
    FROM {core}.assistance a JOIN standard USING (household_id)
    WHERE a.active AND a.category = '特困供养'
), tekun_low AS (
    -- each record below a standard, in words (R11 names the person, what is paid against what is due, since when)
    SELECT t.household_id, count(*) AS tekun_below_standard,
           jz_first_few(list(jz_person(coalesce(m.name, p.name), k.id_number) || concat_ws('，',
                   CASE WHEN t.basic_living < t.basic_due
                        THEN '基本生活费 ' || jz_yuan(t.basic_living) || ' 元（应不低于 ' || jz_yuan(t.basic_due) || ' 元）' END,
                   CASE WHEN t.care_allowance < t.care_due
                        THEN t.care_level || '照料护理费 ' || jz_yuan(t.care_allowance) || ' 元（应不低于 '
                             || jz_yuan(t.care_due) || ' 元）' END,
                   strftime(t.start_date, '%Y-%m-%d') || ' 起')
               ORDER BY k.id_number, t.start_date, t.basic_living, t.care_allowance, t.care_level), '条') AS tekun_below_standard_detail
    FROM tekun_due t JOIN {restricted}.person_ids k USING (person_key)
    -- the name the household's roster gives; a record under a 户编号 the person is not listed in: the feeds' name
    LEFT JOIN {core}.household_members m USING (household_id, person_key) LEFT JOIN {persons} p USING (person_key)
    WHERE t.basic_living < t.basic_due OR t.care_allowance < t.care_due
    GROUP BY t.household_id
)
SELECT s.household_id, s.dibao_standard,
       v.verification_date, v.verification_result, v.annual_income, v.financial_assets,
       round(v.annual_income / 12 / s.members, 2) AS per_capita_monthly_income,
       round(v.annual_income / 12 / s.members / s.dibao_standard, 4) AS income_to_standard,
       coalesce(t.tekun_below_standard, 0) AS tekun_below_standard, t.tekun_below_standard_detail
FROM standard s LEFT JOIN verification v USING (household_id) LEFT JOIN tekun_low t USING (household_id);
