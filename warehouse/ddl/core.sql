-- core.* is rebuilt each night by transform/core/build.py (CREATE OR REPLACE), household_features
-- from the night before where a household's inputs did not change. The tables kept across nights:
-- the person key's fingerprint (warehouse/person_key.py): a key other than the one the warehouse was
-- built with must never be used silently; and the state of the features (below).
CREATE TABLE IF NOT EXISTS core.key_fingerprint (
    fingerprint VARCHAR NOT NULL,
    created_at  TIMESTAMP
);

-- The night core.household_features stands for, and what it was built from: the next night computes
-- again only the households whose inputs changed since (transform/core/delta.py). At most one row;
-- none while a night builds core (one stopped half way builds every household again).
CREATE TABLE IF NOT EXISTS core.features_state (
    as_of_date DATE NOT NULL,
    stamp      VARCHAR NOT NULL,   -- the SQL, the values, the staging rules and the classifier it used
    file_ids   BIGINT[] NOT NULL,  -- staging's files then (staging.standardised_files)
    computed   INTEGER NOT NULL    -- the households whose features that night computed (the others: carried over)
);
