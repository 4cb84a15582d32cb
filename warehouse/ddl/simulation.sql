-- Policy simulations (transform/monitoring/simulation.py, jiuzhu simulate): a proposal's night beside
-- the policy in force. Keyed by the proposal's name, its digest (the whole proposed policy) and the
-- night; a simulation run again replaces its own rows and touches no other table.
CREATE TABLE IF NOT EXISTS simulation.runs (
    proposal      VARCHAR NOT NULL,  -- the proposal file's name without its extension
    digest        VARCHAR NOT NULL,
    as_of_date    DATE NOT NULL,
    computed_at   TIMESTAMP NOT NULL,
    headline      JSON NOT NULL,     -- the figures of <name>.json
    PRIMARY KEY (proposal, digest, as_of_date)
);
-- Demand under each policy ('in_force', 'proposal'), as monitoring.fund_demand holds it for the night.
CREATE TABLE IF NOT EXISTS simulation.demand (
    proposal              VARCHAR NOT NULL,
    digest                VARCHAR NOT NULL,
    as_of_date            DATE NOT NULL,
    policy                VARCHAR NOT NULL,
    programme             VARCHAR NOT NULL,
    township_code         VARCHAR NOT NULL,
    residence_type        VARCHAR NOT NULL,
    component             VARCHAR NOT NULL,
    households            BIGINT NOT NULL,
    eligible_households   BIGINT NOT NULL,
    persons               BIGINT NOT NULL,
    formula_monthly       DECIMAL(16, 2) NOT NULL,
    recorded_monthly      DECIMAL(16, 2) NOT NULL,
    differing_households  BIGINT NOT NULL
);
-- The households the proposal affects: a move between 低保边缘, 低保 and neither, a warning's rule
-- that appears or disappears, or a different monthly amount. For the bureau's analysts only.
CREATE TABLE IF NOT EXISTS simulation.households (
    proposal          VARCHAR NOT NULL,
    digest            VARCHAR NOT NULL,
    as_of_date        DATE NOT NULL,
    household_id      VARCHAR NOT NULL,
    township_code     VARCHAR,
    residence_type    VARCHAR,
    tier_in_force     VARCHAR NOT NULL,  -- 低保, 低保边缘 or '' by the verified income
    tier_proposed     VARCHAR NOT NULL,
    rules_added       VARCHAR[] NOT NULL,
    rules_removed     VARCHAR[] NOT NULL,
    demand_in_force   DECIMAL(14, 2) NOT NULL,  -- 元 a month, every programme
    demand_proposed   DECIMAL(14, 2) NOT NULL
);
