-- Human resources (人社): each person's contributions and benefits, added up from the insurance
-- history as known on the night. A fact (transform/core/facts.py): kept in {restricted} and built
-- again only when what it reads changes, the insurance files or the month of the night (the feed
-- is monthly: a night's windows end on its month, $as_of_month, so every night of a month reads the
-- same months). Read by features_rs.sql.
SELECT k.person_key, f.* EXCLUDE (id_number)
FROM (  -- added up by ID number, then keyed: a row per person joined, not a row per month
    SELECT id_number,
           count(DISTINCT contribution_month) FILTER (WHERE work_contribution
               AND contribution_month > $as_of_month - INTERVAL ($contribution_window_months) MONTH) AS contribution_months_6m,
           count(DISTINCT contribution_month) FILTER (WHERE work_contribution
               AND contribution_month > $as_of_month - INTERVAL ($trend_months) MONTH) AS contribution_months_3m,
           count(DISTINCT contribution_month) FILTER (WHERE work_contribution
               AND contribution_month > $as_of_month - INTERVAL (2 * $trend_months) MONTH
               AND contribution_month <= $as_of_month - INTERVAL ($trend_months) MONTH) AS contribution_months_prev_3m,
           max(contribution_month) FILTER (WHERE work_contribution AND insurance_type = '职工养老') AS last_work_month,
           arg_max(contribution_base, contribution_month) FILTER (WHERE work_contribution AND insurance_type = '职工养老')
               AS last_work_base,  -- that month's base (R09 names it: the wage that stopped)
           -- a benefit under two insurance types in one month: the later type (month and type are the natural key)
           arg_max(benefit_amount, (contribution_month, insurance_type)) FILTER (WHERE benefit_type = '养老金') AS pension,
           -- the latest 职工养老 base: the wage the employer declares (proxy means)
           arg_max(contribution_base, contribution_month) FILTER (WHERE insurance_type = '职工养老' AND work_contribution
               AND contribution_month > $as_of_month - INTERVAL ($wage_base_months) MONTH) AS wage_base,
           -- the 居民养老 tier a resident chose (a household's own view of what it can afford)
           max(contribution_base) FILTER (WHERE insurance_type = '居民养老' AND contribution_base > 0
               AND contribution_month > $as_of_month - INTERVAL ($resident_tier_months) MONTH) AS resident_tier,
           arg_max(benefit_amount, (contribution_month, insurance_type)) FILTER (WHERE benefit_type = '失业保险金'
               AND contribution_month > $as_of_month - INTERVAL ($unemployment_benefit_months) MONTH) AS unemployment_benefit,
           max(contribution_month) FILTER (WHERE insurance_type = '职工养老') AS newest_month
    FROM (
        SELECT id_number, contribution_month, insurance_type, contribution_base, benefit_type, benefit_amount,
               -- contributions from work; 居民养老 is paid once a year by residents and says nothing of a job
               insurance_type IN ('职工养老', '失业保险') AND contribution_base > 0 AS work_contribution
        FROM {rs_insurance_rows} WHERE contribution_month <= $as_of_month
    )
    GROUP BY id_number
) f JOIN {restricted}.person_ids k USING (id_number)
