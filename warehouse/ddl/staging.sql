-- What staging.<feed> was built from (transform/staging/build.py), so that a night standardises only
-- the extract dates whose files changed. The staging.<feed> tables themselves are built there.

-- The rules each feed's rows were standardised with, and the night is_current is for. A version
-- other than today's code gives (a changed spec or macro) restandardises the whole feed.
CREATE TABLE IF NOT EXISTS staging.feed_versions (
    feed     VARCHAR NOT NULL,
    version  VARCHAR NOT NULL,  -- sha256 of the feed's spec, its standardising SQL and the macros
    as_of    DATE NOT NULL      -- the night is_current was computed for
);

-- The loaded files whose rows staging.<feed> and the staging quarantine hold. A loaded file not
-- listed, or a listed one no longer loaded (superseded), makes its extract date be standardised again.
CREATE TABLE IF NOT EXISTS staging.standardised_files (
    feed          VARCHAR NOT NULL,
    file_id       BIGINT NOT NULL,
    extract_date  DATE
);

-- Every name the roster ever delivered (raw.mz_members), trimmed, for masking names in file names
-- and reasons (warehouse/pii_lookup.py): looking candidates up here, not in every roster row of the
-- history, costs the same whatever the roster's age. It holds the rows of the files up to file_id;
-- later files' rows are read from raw until the roster's next load brings it up to date.
CREATE TABLE IF NOT EXISTS staging.roster_names (
    name  VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS staging.roster_names_upto (
    file_id  BIGINT NOT NULL
);
