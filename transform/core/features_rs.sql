-- Human resources (人社): each roster person's contributions, benefits and registrations as known on
-- the night, from the insurance history added up in facts_insurance.sql. Reads features_wj.sql's
-- deaths (R09: paying contributions until death).
-- Read by household_features.sql.
CREATE OR REPLACE TEMP TABLE _jz_features_rs AS
WITH contributions AS (  -- the insurance history added up per person (facts_insurance.sql)
    SELECT * FROM {facts_insurance}
), dead AS (  -- the few who died (features_wj.sql), by ID number: the insurance rows are read for them alone
    SELECT d.person_key, p.id_number, d.death_date
    FROM _jz_features_wj d JOIN {restricted}.person_ids p USING (person_key) WHERE d.death_date IS NOT NULL
), before_death AS (  -- R09 asks whether they paid 职工养老 in the months before
    SELECT dead.person_key, bool_or(i.contribution_base > 0) AS paid_before_death
    FROM {rs_insurance_rows} i JOIN dead USING (id_number)
    WHERE i.insurance_type = '职工养老' AND i.contribution_month <= $as_of AND i.contribution_month <= dead.death_date
      AND i.contribution_month > dead.death_date - INTERVAL ($contribution_window_months) MONTH
    GROUP BY dead.person_key
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
       coalesce(b.paid_before_death, false) AS paid_before_death,
       coalesce(e.active_unemployment, false) AS active_unemployment,
       coalesce(e.active_employment, false) AS active_employment,
       e.unemployed_since, coalesce(e.hard_to_employ, false) AS hard_to_employ
FROM (SELECT DISTINCT person_key FROM {core}.household_members)
LEFT JOIN contributions c USING (person_key) CROSS JOIN newest LEFT JOIN employment e USING (person_key)
LEFT JOIN before_death b USING (person_key)
