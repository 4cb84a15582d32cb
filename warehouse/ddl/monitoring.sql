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
    PRIMARY KEY (as_of_date, household_id)
);
