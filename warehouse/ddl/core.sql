-- core.* is rebuilt each night by transform/core/build.py (CREATE OR REPLACE); the one
-- table kept across nights is the person key's fingerprint (warehouse/person_key.py): a
-- key other than the one the warehouse was built with must never be used silently.
CREATE TABLE IF NOT EXISTS core.key_fingerprint (
    fingerprint VARCHAR NOT NULL,
    created_at  TIMESTAMP
);
