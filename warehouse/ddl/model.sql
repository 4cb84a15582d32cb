-- The risk model's training history (transform/model/history.py): each month end's household
-- features, as they stood that night, kept so that retraining never rebuilds a past night.
-- model.feature_history (the features, columns as core.household_features less the *_detail
-- columns) and model.member_history (who the households' members were, for the labels) are
-- created from the first month end kept; this table says which month ends they hold.
CREATE SCHEMA IF NOT EXISTS model;

CREATE TABLE IF NOT EXISTS model.feature_history_nights (
    as_of_date    DATE PRIMARY KEY,  -- a month end
    version       VARCHAR NOT NULL,  -- sha256 of what computes features: the core SQL, the configs, the policy in force
    last_file_id  BIGINT,            -- the newest loaded file then: a later file dated on or before the month end makes it stale
    households    BIGINT NOT NULL,
    kept_by       VARCHAR NOT NULL,  -- night (the month end's own nightly run) | training (built for training)
    kept_at       TIMESTAMP NOT NULL
);
