-- The warning list and what it is made of (../shared/contract/OUTPUTS.md names monitoring.warnings).
-- Applied by warehouse/resource.py ensure_schema; changes to tables of older warehouses: warehouse/migrations.py.
CREATE TABLE IF NOT EXISTS monitoring.rule_hits (
    as_of_date    DATE NOT NULL,
    subject_type  VARCHAR NOT NULL,     -- household | person (outside the roster)
    subject_id    VARCHAR NOT NULL,     -- household_id, or person_key
    rule_code     VARCHAR NOT NULL,
    rule_name     VARCHAR NOT NULL,
    level         VARCHAR NOT NULL,
    figures       JSON NOT NULL,        -- the figures that decided it
    threshold     VARCHAR,              -- the line that was crossed
    policy_items  VARCHAR NOT NULL,     -- items of 乐办字〔2021〕21号
    reason        VARCHAR NOT NULL,     -- plain Chinese
    departments   VARCHAR[] NOT NULL,
    measure       VARCHAR NOT NULL,
    severity      DOUBLE,               -- higher = worse (feedback suppression)
    suppressed    BOOLEAN NOT NULL DEFAULT false,  -- held back by township feedback 情况不属实
    found_by      VARCHAR,              -- a person outside the roster: the record that found them (no ID number)
    PRIMARY KEY (as_of_date, subject_id, rule_code)
);

-- The records behind each hit: feed, file, row.
CREATE TABLE IF NOT EXISTS monitoring.rule_sources (
    as_of_date  DATE NOT NULL,
    subject_id  VARCHAR NOT NULL,
    rule_code   VARCHAR NOT NULL,
    feed        VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_row  BIGINT NOT NULL
);

-- Whether each rule could be evaluated tonight, and why not.
CREATE TABLE IF NOT EXISTS monitoring.rule_status (
    as_of_date DATE NOT NULL,
    rule_code  VARCHAR NOT NULL,
    evaluated  BOOLEAN NOT NULL,
    reason     VARCHAR,
    hits       BIGINT,
    PRIMARY KEY (as_of_date, rule_code)
);

CREATE TABLE IF NOT EXISTS monitoring.warnings (
    as_of_date        DATE NOT NULL,
    warning_id        VARCHAR NOT NULL,
    household_id      VARCHAR,
    person_masked_id  VARCHAR,
    township_code     VARCHAR NOT NULL,
    township_name     VARCHAR NOT NULL,
    village           VARCHAR,
    level             VARCHAR NOT NULL,
    rule_codes        VARCHAR[] NOT NULL,
    risk_score        DOUBLE,
    departments       VARCHAR[] NOT NULL,
    reasons           VARCHAR NOT NULL,
    status            VARCHAR NOT NULL CHECK (status IN ('new', 'continuing', 'escalated')),
    first_flagged_on  DATE NOT NULL,
    -- beyond OUTPUTS.md: what the township needs and what came back
    subject_id        VARCHAR NOT NULL,
    measures          VARCHAR,
    last_feedback     VARCHAR,
    level_since       DATE,                 -- the night it was issued, or its level last rose
    due_on            DATE,                 -- level_since + the response days of its level (policy file)
    first_feedback_on DATE,                 -- the first 核查日期 of feedback that stands
    found_by          VARCHAR,              -- a person outside the roster: the records that found them
    PRIMARY KEY (as_of_date, warning_id)
);

-- Warnings that ended: listed once, on the night they end.
CREATE TABLE IF NOT EXISTS monitoring.resolved_warnings (
    as_of_date       DATE NOT NULL,
    warning_id       VARCHAR NOT NULL,
    household_id     VARCHAR,
    person_masked_id VARCHAR,
    township_code    VARCHAR NOT NULL,
    township_name    VARCHAR NOT NULL,
    village          VARCHAR,
    last_level       VARCHAR NOT NULL,
    rule_codes       VARCHAR[] NOT NULL,
    first_flagged_on DATE NOT NULL,
    last_flagged_on  DATE NOT NULL,
    outcome          VARCHAR,
    ended_because    VARCHAR,               -- why it ended, in plain Chinese
    PRIMARY KEY (as_of_date, warning_id)
);

-- 已在保 reported by a township but not on the rolls: a data-lag case for 民政.
CREATE TABLE IF NOT EXISTS monitoring.data_lag_cases (
    as_of_date   DATE NOT NULL,
    warning_id   VARCHAR NOT NULL,
    household_id VARCHAR,
    check_date   DATE NOT NULL,
    note         VARCHAR NOT NULL
);

-- The risk model's view of every roster household (OUTPUTS.md), warned or not.
CREATE TABLE IF NOT EXISTS monitoring.household_scores (
    as_of_date    DATE NOT NULL,
    household_id  VARCHAR NOT NULL,
    risk_score    DOUBLE NOT NULL,
    model_version VARCHAR NOT NULL,
    top_factors   VARCHAR,
    -- proxy-means estimate of per-capita monthly income (元), an estimate for the township, never a verified figure
    estimated_income_per_capita DOUBLE,
    -- a hash of what the score was computed from (the household's row of core.household_features but
    -- its as_of_date, hashed by DuckDB): a later night with the same model and the same hash has the
    -- same score, copied instead of predicted again (transform/model/scoring.py)
    inputs_hash   UBIGINT,
    -- the household's place in its township's visit order that night, the capacity shared between
    -- households headed by women and by men (transform/model/visit_order.py); 1 is visited first
    visit_order   INTEGER
    -- one row per night and household, as (as_of_date, household_id) says: the night's scores are
    -- replaced whole (transform/model/scoring.py). No PRIMARY KEY: its index made replacing a night's
    -- 220,000 rows take 27 s, and the key is never looked up by it
);

-- How the townships keep the deadlines (item 12: 督查, 转办交办; item 16: 办件跟踪、办结反馈), per night,
-- per township and in total (township_code '合计'), for the county's 社会救助综合服务中心.
CREATE TABLE IF NOT EXISTS monitoring.township_supervision (
    as_of_date              DATE NOT NULL,
    township_code           VARCHAR NOT NULL,
    township_name           VARCHAR NOT NULL,
    open_warnings           INTEGER NOT NULL,
    overdue                 INTEGER NOT NULL,     -- open, unanswered, past due_on
    due_so_far              INTEGER NOT NULL,     -- warnings issued so far whose deadline has come, or answered
    answered_on_time        INTEGER NOT NULL,     -- of those, answered on or before due_on
    answered_on_time_share  DOUBLE,
    answered                INTEGER NOT NULL,
    median_days_to_feedback DOUBLE,               -- first 核查日期 − first issued
    found_true              INTEGER NOT NULL,     -- latest answer 情况属实
    found_not_true          INTEGER NOT NULL,
    already_assisted        INTEGER NOT NULL,     -- 已在保
    unreachable             INTEGER NOT NULL,     -- 无法联系
    found_true_share        DOUBLE,
    oldest_unanswered       VARCHAR,              -- 预警编号 of the oldest open warning without an answer
    oldest_unanswered_days  INTEGER,
    PRIMARY KEY (as_of_date, township_code)
);

-- Each rule's record (transform/monitoring/backtest.py): over the month ends of the training history
-- whose six months have passed, the households each rule (and M01, and the list as a whole) newly
-- flagged, how many entered assistance or were verified 情况属实 within six months, the median lead
-- time to the start of assistance, and the share of all entries it flagged beforehand. Computed when
-- its basis (the month ends, the model in force, the rules) changes; one set of rows per computation.
CREATE TABLE IF NOT EXISTS monitoring.rule_backtest (
    computed_on       DATE NOT NULL,     -- the night it was computed
    basis             VARCHAR NOT NULL,  -- what it was computed from (the same basis: the same figures)
    rule_code         VARCHAR NOT NULL,  -- R01 … R11, M01, or ALL (the list as a whole)
    rule_name         VARCHAR NOT NULL,
    level             VARCHAR NOT NULL,
    month_ends        INTEGER NOT NULL,  -- month ends judged (M01: the model's held-out ones)
    flags             BIGINT NOT NULL,   -- households newly flagged at a month end
    converted         BIGINT NOT NULL,   -- of them: entered assistance or verified true within six months
    conversion        DOUBLE,
    median_lead_days  DOUBLE,            -- from the month end of the first flag to the start of assistance
    entries           BIGINT NOT NULL,   -- entries into assistance in the period
    found_before      BIGINT NOT NULL,   -- of them: flagged by the rule at a month end in the six months before
    early_discovery   DOUBLE,
    verdict           VARCHAR NOT NULL
);

-- Fund demand under the policy in force (transform/monitoring/fund_demand.py, item 18): each night's
-- monthly demand by programme, township, 城乡 and component, beside what the rolls pay. Figures only.
CREATE TABLE IF NOT EXISTS monitoring.fund_demand (
    as_of_date            DATE NOT NULL,
    programme             VARCHAR NOT NULL,  -- 低保, 特困, 低保边缘, 临时救助, 孤儿
    township_code         VARCHAR NOT NULL,
    residence_type        VARCHAR NOT NULL,  -- 城镇, 农村 (the head's 户口性质), 未知
    component             VARCHAR NOT NULL,  -- by_formula, not_on_roll, not_verified, not_eligible, off_roster, past_rate, not_in_policy
    households            BIGINT NOT NULL,
    eligible_households   BIGINT NOT NULL,
    persons               BIGINT NOT NULL,
    formula_monthly       DECIMAL(16, 2) NOT NULL,  -- 元 a month by the policy's formula
    recorded_monthly      DECIMAL(16, 2) NOT NULL,  -- 元 a month the rolls pay (月保障金额)
    differing_households  BIGINT NOT NULL           -- by_formula households paid other than the formula
);
