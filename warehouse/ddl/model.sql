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
    kept_by       VARCHAR NOT NULL,  -- night (the month end's own nightly run) | training (built for training) | reconstructed (before the first roster: from the records' own dates)
    kept_at       TIMESTAMP NOT NULL
);

-- The petition classifiers (models/petition_text.py): hardship read from a petition's 诉求内容 (R08).
-- One row per classifier, named by the night it was trained (YYYYMMDD). The one in force on a night
-- is the newest trained on or before it (transform/model/petitions.py, transform/core/features_xf.sql).
-- The classifier itself is kept here, encrypted with the warehouse, not in a file: its vocabulary
-- holds fragments (1 to 3 characters) of the petition texts it learned from.
CREATE TABLE IF NOT EXISTS model.petition_classifiers (
    version        VARCHAR PRIMARY KEY,
    trained_on     DATE NOT NULL,
    threshold      DOUBLE NOT NULL,   -- a text is hardship at or above this probability
    labelled_hash  VARCHAR NOT NULL,  -- sha256 of the labelled set and the classifier's format: a change retrains
    card           JSON NOT NULL,     -- what it learned from and its held-out figures (counts only, no text)
    artefact       BLOB NOT NULL      -- the classifier, as joblib writes it
);

-- Each distinct petition text as a classifier read it: the probability that it says the family is
-- in hardship and, where it does, the phrase that says it most (at most 30 characters). Keyed by
-- the text's hash: a text is read once per classifier, a corrected one again. Text never leaves
-- the warehouse; the phrase reaches R08's reason (the warning list and the workbooks) only.
CREATE TABLE IF NOT EXISTS model.petition_hardship (
    text_hash    UBIGINT NOT NULL,   -- hash(petition_text), DuckDB's
    classifier   VARCHAR NOT NULL,
    probability  DOUBLE NOT NULL,
    hardship     BOOLEAN NOT NULL,
    phrase       VARCHAR
);

-- The scores a risk model gave the households of its held-out month ends when it was trained (every
-- household of those months: models/risk.py holds them out whole). M01's record
-- (transform/monitoring/backtest.py) reads them instead of predicting those months again.
CREATE TABLE IF NOT EXISTS model.heldout_scores (
    model_version  VARCHAR NOT NULL,
    as_of_date     DATE NOT NULL,
    household_id   VARCHAR NOT NULL,
    score          DOUBLE NOT NULL
);
