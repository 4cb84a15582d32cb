-- Human resources (人社): each roster person's contributions, benefits and registrations as known on
-- the night. Reads features_wj.sql's deaths (R09: paying contributions until death).
-- Read by household_features.sql.
CREATE OR REPLACE TEMP TABLE _jz_features_rs AS
WITH insurance AS (  -- read once (a CTE read twice is materialised: millions of rows)
    SELECT person_key, contribution_month, insurance_type, contribution_base, benefit_type, benefit_amount,
           -- contributions from work; 居民养老 is paid once a year by residents and says nothing of a job
           insurance_type IN ('职工养老', '失业保险') AND contribution_base > 0 AS work_contribution,
           d.death_date
    FROM {rs_insurance}
    -- the few who died (features_wj.sql): R09 asks whether they paid in the months before
    LEFT JOIN (SELECT person_key, death_date FROM _jz_features_wj WHERE death_date IS NOT NULL) d USING (person_key)
    WHERE contribution_month <= $as_of
), contributions AS (
    SELECT person_key,
           count(DISTINCT contribution_month) FILTER (WHERE work_contribution
               AND contribution_month > $as_of - INTERVAL ($contribution_window_months) MONTH) AS contribution_months_6m,
           count(DISTINCT contribution_month) FILTER (WHERE work_contribution
               AND contribution_month > $as_of - INTERVAL ($trend_months) MONTH) AS contribution_months_3m,
           count(DISTINCT contribution_month) FILTER (WHERE work_contribution
               AND contribution_month > $as_of - INTERVAL (2 * $trend_months) MONTH
               AND contribution_month <= $as_of - INTERVAL ($trend_months) MONTH) AS contribution_months_prev_3m,
           max(contribution_month) FILTER (WHERE work_contribution AND insurance_type = '职工养老') AS last_work_month,
           arg_max(contribution_base, contribution_month) FILTER (WHERE work_contribution AND insurance_type = '职工养老')
               AS last_work_base,  -- that month's base (R09 names it: the wage that stopped)
           -- a benefit under two insurance types in one month: the later type (month and type are the natural key)
           arg_max(benefit_amount, (contribution_month, insurance_type)) FILTER (WHERE benefit_type = '养老金') AS pension,
           -- the latest 职工养老 base: the wage the employer declares (proxy means)
           arg_max(contribution_base, contribution_month) FILTER (WHERE insurance_type = '职工养老' AND work_contribution
               AND contribution_month > $as_of - INTERVAL ($wage_base_months) MONTH) AS wage_base,
           -- the 居民养老 tier a resident chose (a household's own view of what it can afford)
           max(contribution_base) FILTER (WHERE insurance_type = '居民养老' AND contribution_base > 0
               AND contribution_month > $as_of - INTERVAL ($resident_tier_months) MONTH) AS resident_tier,
           arg_max(benefit_amount, (contribution_month, insurance_type)) FILTER (WHERE benefit_type = '失业保险金'
               AND contribution_month > $as_of - INTERVAL ($unemployment_benefit_months) MONTH) AS unemployment_benefit,
           -- paid 职工养老 in the months before death (R09)
           bool_or(contribution_base > 0) FILTER (WHERE insurance_type = '职工养老' AND contribution_month <= death_date
               AND contribution_month > death_date - INTERVAL ($contribution_window_months) MONTH) AS paid_before_death,
           max(contribution_month) FILTER (WHERE insurance_type = '职工养老') AS newest_month
    FROM insurance GROUP BY person_key
), newest AS (  -- the newest 职工养老 month the feed has
    SELECT max(newest_month) AS month FROM contributions
), employment AS (
    SELECT person_key,
           bool_or(registration_type = '失业登记' AND (deregistration_date IS NULL OR deregistration_date > $as_of)) AS active_unemployment,
           bool_or(registration_type = '就业登记' AND (deregistration_date IS NULL OR deregistration_date > $as_of)) AS active_employment,
           min(registration_date) FILTER (WHERE registration_type = '失业登记'
               AND (deregistration_date IS NULL OR deregistration_date > $as_of)) AS unemployed_since,
           bool_or(registration_type = '就业困难人员认定') AS hard_to_employ
    FROM {rs_employment} WHERE registration_date <= $as_of GROUP BY person_key
)
SELECT person_key, c.contribution_months_6m, c.contribution_months_3m, c.contribution_months_prev_3m,
       c.last_work_month, c.last_work_base,
       c.pension, c.unemployment_benefit, c.wage_base, c.resident_tier,
       -- 职工养老 paid until recently but missing from the newest month (an employer falling behind)
       c.last_work_month < newest.month
           AND c.last_work_month >= newest.month - INTERVAL ($arrears_months) MONTH AS contribution_arrears,
       coalesce(c.paid_before_death, false) AS paid_before_death,
       coalesce(e.active_unemployment, false) AS active_unemployment,
       coalesce(e.active_employment, false) AS active_employment,
       e.unemployed_since, coalesce(e.hard_to_employ, false) AS hard_to_employ
FROM (SELECT DISTINCT person_key FROM {core}.household_members)
LEFT JOIN contributions c USING (person_key) CROSS JOIN newest LEFT JOIN employment e USING (person_key)
