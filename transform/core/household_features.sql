-- One row of features per household: what each department says of its members added up.
-- Each member's facts are the per-person tables _jz_features_<department> of the files
-- features_<department>.sql, which build.py joins in below. The columns listed here come
-- first, in this order; after them come the columns of every _jz_household_<department> a
-- features file creates, file by file. A new feed's facts, and their sums per household, are
-- written in its own features file, not here (transform/core/build.py says how). A night that computes
-- some households only (transform/core/delta.py) reads their rows of core's tables from temp tables
-- ({core}: temp.main) and writes a temp table ({table_kind}: TEMP TABLE).
CREATE OR REPLACE {table_kind} {core}.household_features AS
WITH members AS (  -- each member, with every department's facts
    -- members are listed by ID number (member_order), never by the keyed person_key: a county with
    -- another person key would otherwise see the same members in another order
    SELECT * EXCLUDE (id_number), id_number AS member_order,
           date_part('year', age(death_date::TIMESTAMP, birth_date::TIMESTAMP)) AS age_at_death,
           age BETWEEN $working_age_low AND $working_age_high AS working_age,
           age BETWEEN $working_age_low AND $working_age_high AND work_ability IN ('完全', '部分') AS able_to_work
    FROM {core}.household_members
    {person_joins}
    JOIN {restricted}.person_ids USING (person_key)
), f AS (  -- what makes a member count for R05, R09, R10: counted per household, and named in the reasons
    SELECT *,
           serious_illness_24m AND NOT on_dibao AND NOT on_tekun AND death_date IS NULL AS uncovered_serious_illness,
           disability_grade IN ('一级', '二级') AND NOT on_dibao AND NOT on_tekun AND death_date IS NULL
               AS uncovered_severe_disability,
           first_serious_illness > $as_of - INTERVAL ($emergency_window_days) DAY AS first_serious_illness_recent,
           death_date > $as_of - INTERVAL ($emergency_window_days) DAY
               AND age_at_death BETWEEN $working_age_low AND $working_age_high AND paid_before_death AS earner_died_recently,
           contribution_months_6m > 0 AND active_unemployment
               AND unemployed_since > $as_of - INTERVAL ($emergency_window_days) DAY AS contributor_newly_unemployed,
           (on_dibao OR on_tekun) AND death_date IS NOT NULL AS deceased_recipient,
           (on_dibao OR on_tekun) AND (households_count > 1 OR active_main_categories > 1 OR active_households > 1)
               AS double_recipient
    FROM members
), counted AS (  -- every household's sums over its members: one group per household
    -- (a sum is cast back to 64 bits: DuckDB widens it to 128, HUGEINT or DECIMAL(38, 2), and such columns
    -- read back about ten times slower than 64-bit ones; the training history holds millions of rows)
    SELECT household_id,
           count(*) FILTER (WHERE death_date IS NULL) AS living_members,
           count(*) FILTER (WHERE age < $child_age_below) AS children,
           count(*) FILTER (WHERE age >= $elderly_age_from) AS elderly,
           count(*) FILTER (WHERE working_age AND death_date IS NULL) AS working_age,
           count(*) FILTER (WHERE able_to_work AND death_date IS NULL) AS able_to_work,
           count(*) FILTER (WHERE disability_grade IN ('一级', '二级')) AS severe_disability,
           count(*) FILTER (WHERE disability_grade IS NOT NULL) AS disabled,
           count(*) FILTER (WHERE school_stage IS NOT NULL AND school_stage <> '非在校') AS in_school,
           count(*) FILTER (WHERE households_count > 1) AS members_in_two_households,
           count(*) FILTER (WHERE on_dibao) AS on_dibao,
           count(*) FILTER (WHERE on_tekun) AS on_tekun,
           count(*) FILTER (WHERE on_dibao_edge) AS on_dibao_edge,
           count(*) FILTER (WHERE on_temporary) AS on_temporary,
           sum(dibao_amount)::DECIMAL(18, 2) AS dibao_amount,
           count(*) FILTER (WHERE tekun_or_orphan_ended AND NOT on_tekun
                            AND (age < $tekun_child_age_limit
                                 OR list_contains($tekun_extension_max_school, school_stage))) AS tekun_extension_candidates,
           count(*) FILTER (WHERE deceased_recipient) AS deceased_on_assistance,
           count(*) FILTER (WHERE double_recipient) AS double_assistance,
           coalesce(sum(oop_3m), 0)::DECIMAL(18, 2) AS oop_3m, coalesce(sum(oop_6m), 0)::DECIMAL(18, 2) AS oop_6m,
           coalesce(sum(oop_12m), 0)::DECIMAL(18, 2) AS oop_12m,
           coalesce(sum(oop_prev_3m), 0)::DECIMAL(18, 2) AS oop_prev_3m,
           coalesce(sum(settlements_12m), 0)::BIGINT AS settlements_12m, coalesce(sum(inpatient_12m), 0)::BIGINT AS inpatient_12m,
           count(*) FILTER (WHERE serious_illness_24m AND death_date IS NULL) AS serious_illness_24m,
           count(*) FILTER (WHERE first_serious_illness_recent) AS first_serious_illness_90d,
           count(*) FILTER (WHERE uncovered_serious_illness) + count(*) FILTER (WHERE uncovered_severe_disability)
               AS severe_not_covered,
           sum(chronic_conditions)::BIGINT AS chronic_conditions,
           count(*) FILTER (WHERE death_date > $as_of - INTERVAL ($emergency_window_days) DAY) AS deaths_90d,
           count(*) FILTER (WHERE earner_died_recently) AS earner_deaths_90d,
           count(*) FILTER (WHERE contribution_months_6m > 0 AND death_date IS NULL) AS contributors_6m,
           coalesce(sum(contribution_months_6m), 0)::BIGINT AS contribution_months_6m,
           count(*) FILTER (WHERE coalesce(contribution_months_prev_3m, 0) > 0 AND coalesce(contribution_months_3m, 0) = 0)
               AS contributions_stopped,
           count(*) FILTER (WHERE contribution_arrears AND death_date IS NULL) AS contribution_arrears,
           coalesce(sum(outpatient_2m), 0)::BIGINT AS outpatient_2m,
           -- visits above the household's own pace of the months before
           greatest(coalesce(sum(outpatient_2m), 0)
                    - coalesce(sum(outpatient_prev_6m), 0) * $outpatient_recent_months / $outpatient_baseline_months, 0)
               AS outpatient_rising,
           count(*) FILTER (WHERE contributor_newly_unemployed) AS contributors_newly_unemployed_90d,
           count(*) FILTER (WHERE able_to_work AND death_date IS NULL AND active_unemployment AND NOT active_employment)
               AS able_unemployed,
           count(*) FILTER (WHERE active_employment) AS employed_registered,
           count(*) FILTER (WHERE hard_to_employ) AS hard_to_employ,
           coalesce(sum(pension), 0)::DECIMAL(18, 2) AS pension_monthly,
           coalesce(sum(wage_base) FILTER (WHERE death_date IS NULL), 0)::DECIMAL(18, 2) AS wage_base_monthly,
           count(*) FILTER (WHERE resident_tier IS NOT NULL AND death_date IS NULL) AS resident_contributors_12m,
           coalesce(max(resident_tier), 0) AS resident_tier_max,
           -- able to work, no work contributions, not registered unemployed: farming or informal work, unseen income
           count(*) FILTER (WHERE able_to_work AND death_date IS NULL AND coalesce(contribution_months_6m, 0) = 0
                            AND NOT active_unemployment) AS able_without_contributions,
           coalesce(sum(unemployment_benefit), 0)::DECIMAL(18, 2) AS unemployment_benefit_monthly,
           sum(petitions_90d)::BIGINT AS petitions_90d, sum(hardship_petitions_90d)::BIGINT AS hardship_petitions_90d
    FROM f GROUP BY household_id
), named AS (  -- the members the reasons name (few households have any), in a fixed order: by ID number
    SELECT f.household_id,
           -- R08's reason names the categories
           flatten(list(f.petition_categories ORDER BY f.member_order) FILTER (WHERE f.petition_categories IS NOT NULL))
               AS petition_categories,
           -- and quotes the words of the latest petition that say hardship (at most 30 characters)
           arg_max(f.hardship_phrase, (f.hardship_phrase_date, f.member_order)) FILTER (WHERE f.hardship_phrase IS NOT NULL)
               AS hardship_petition_detail,
           -- who the counts are, by name and masked ID, with the date and amount a township acts on: the reasons
           -- of R05, R09, R10 (R11's: features_mz.sql); the first three
           jz_first_few(list(jz_person(f.name, f.member_order) || concat_ws('，',
                       CASE WHEN f.uncovered_severe_disability THEN f.disability_grade || '残疾' END,
                       CASE WHEN f.uncovered_serious_illness
                            THEN '近' || $serious_illness_window_months || '个月确诊大病（' || strftime(f.last_serious_illness, '%Y-%m-%d') || '）' END)
                   ORDER BY f.member_order) FILTER (WHERE f.uncovered_severe_disability OR f.uncovered_serious_illness), '人')
               AS severe_not_covered_detail,
           jz_first_few(list(jz_person(f.name, f.member_order) || strftime(f.death_date, '%Y-%m-%d') || ' 死亡'
                             || coalesce('，职工养老缴费至 ' || strftime(f.last_work_month, '%Y-%m'), '')
                   ORDER BY f.member_order) FILTER (WHERE f.earner_died_recently), '人') AS earner_deaths_detail,
           jz_first_few(list(jz_person(f.name, f.member_order) || strftime(f.first_serious_illness, '%Y-%m-%d') || ' 首次确诊大病'
                   ORDER BY f.member_order) FILTER (WHERE f.first_serious_illness_recent), '人') AS first_serious_illness_detail,
           jz_first_few(list(jz_person(f.name, f.member_order) || strftime(f.unemployed_since, '%Y-%m-%d') || ' 失业登记'
                             || coalesce('，此前职工养老缴费基数 ' || jz_yuan(f.last_work_base) || ' 元', '')
                   ORDER BY f.member_order) FILTER (WHERE f.contributor_newly_unemployed), '人') AS newly_unemployed_detail,
           jz_first_few(list(jz_person(f.name, f.member_order) || strftime(f.death_date, '%Y-%m-%d') || ' 死亡，仍在保：'
                             || f.assistance_paid
                   ORDER BY f.member_order) FILTER (WHERE f.deceased_recipient), '人') AS deceased_on_assistance_detail,
           jz_first_few(list(jz_person(f.name, f.member_order) || f.assistance_paid
                             || CASE WHEN f.households_count > 1 THEN '，名册中同在户编号 ' || r.roster_households ELSE '' END
                   ORDER BY f.member_order) FILTER (WHERE f.double_recipient), '人') AS double_assistance_detail
    FROM f
    -- every 户编号 whose roster lists the person (R10: one person in two households): the whole roster's,
    -- also when only some households are computed again (transform/core/delta.py)
    LEFT JOIN (SELECT person_key, string_agg(household_id, '、' ORDER BY household_id) AS roster_households
               FROM {all_members} WHERE households_count > 1 GROUP BY person_key) r USING (person_key)
    WHERE f.petition_categories IS NOT NULL OR f.hardship_phrase IS NOT NULL OR f.uncovered_severe_disability OR f.uncovered_serious_illness
       OR f.earner_died_recently OR f.first_serious_illness_recent OR f.contributor_newly_unemployed
       OR f.deceased_recipient OR f.double_recipient
    GROUP BY f.household_id
), summed AS (  -- every household: the columns listed here
SELECT h.household_id, $as_of AS as_of_date, h.township_code, h.township_name, h.village, h.residence_type,
       v.dibao_standard, c.living_members, h.members, c.children, c.elderly, c.working_age, c.able_to_work,
       c.severe_disability, c.disabled, c.in_school, c.members_in_two_households,
       v.verification_date, v.verification_result, v.annual_income, v.financial_assets,
       v.per_capita_monthly_income, v.income_to_standard,
       c.on_dibao, c.on_tekun, c.on_dibao_edge, c.on_temporary, c.dibao_amount, c.tekun_extension_candidates,
       c.deceased_on_assistance, c.double_assistance, c.oop_3m, c.oop_6m, c.oop_12m, c.oop_prev_3m,
       c.settlements_12m, c.inpatient_12m, c.serious_illness_24m, c.first_serious_illness_90d, c.severe_not_covered,
       c.chronic_conditions, c.deaths_90d, c.earner_deaths_90d, c.contributors_6m, c.contribution_months_6m,
       c.contributions_stopped, c.contribution_arrears, c.outpatient_2m, c.outpatient_rising,
       c.contributors_newly_unemployed_90d, c.able_unemployed, c.employed_registered, c.hard_to_employ,
       c.pension_monthly, c.wage_base_monthly, c.resident_contributors_12m, c.resident_tier_max,
       c.able_without_contributions, c.unemployment_benefit_monthly, c.petitions_90d, c.hardship_petitions_90d,
       n.petition_categories, v.tekun_below_standard,
       n.severe_not_covered_detail, n.earner_deaths_detail, n.first_serious_illness_detail, n.newly_unemployed_detail,
       n.deceased_on_assistance_detail, n.double_assistance_detail, v.tekun_below_standard_detail,
       n.hardship_petition_detail,
       -- the head, for checking that the model serves every group alike (model card); none when no member is 户主
       head.sex AS head_sex, head.age AS head_age
FROM {core}.households h JOIN counted c USING (household_id) JOIN _jz_features_mz_households v USING (household_id)
LEFT JOIN named n USING (household_id)
-- (no head: a NULL key, which matches nobody; a condition beside the keys would make DuckDB compare
-- every member with every household)
LEFT JOIN {core}.household_members head
       ON head.household_id = h.household_id AND head.person_key = CASE WHEN h.has_head THEN h.head_person_key END
)
SELECT * FROM summed
{household_joins}
