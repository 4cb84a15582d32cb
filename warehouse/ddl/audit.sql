-- Audit tables that auditors query (../shared/contract/OUTPUTS.md). Columns named
-- there keep their names; the rest help operators trace a file or a row.
-- Each table in its current shape: a warehouse built before a change gets it from
-- warehouse/migrations.py (added columns stay last here, as ALTER TABLE puts them).

CREATE SEQUENCE IF NOT EXISTS audit.file_id_seq START 1;

-- One row per file ever seen: loaded, rejected (with the reason), duplicate, or superseded (a
-- later file of the same name replaced it: its rows stay in raw for the record, unused).
-- A file that was never opened (refused, unreadable, too large) has sha256 ''.
CREATE TABLE IF NOT EXISTS audit.files (
    file_id          BIGINT PRIMARY KEY,
    feed             VARCHAR NOT NULL,   -- the feed, or the unknown folder the file lies in
    file_name        VARCHAR NOT NULL,   -- path inside <landing>/<feed>/ (\xNN escapes where not UTF-8)
    sha256           VARCHAR NOT NULL,
    extract_date     DATE,               -- null only when the name carries no date
    status           VARCHAR NOT NULL CHECK (status IN ('loaded', 'rejected', 'duplicate', 'superseded')),
    reason_code      VARCHAR,
    reason           VARCHAR,            -- why rejected, or whose duplicate; notes for loaded files
    rows_read        BIGINT,             -- data rows: not title, header, blank or 合计 rows
    rows_loaded      BIGINT,
    rows_quarantined BIGINT,
    format           VARCHAR,            -- csv | xlsx | xls
    encoding         VARCHAR,
    sheet            VARCHAR,
    header_row       INTEGER,            -- where the header was found, as a person counts rows
    size_bytes       BIGINT,
    seconds          DOUBLE,             -- time spent reading and loading the file
    run_id           VARCHAR,
    ingested_at      TIMESTAMP NOT NULL,
    superseded_by    BIGINT,             -- the file_id of the version that replaced it
    display_name     VARCHAR             -- file_name with ID-like numbers and roster names masked: what leaves the warehouse
);

-- One row per data row that could not be loaded, with its original values.
CREATE TABLE IF NOT EXISTS audit.quarantine (
    feed          VARCHAR NOT NULL,
    file_name     VARCHAR NOT NULL,
    row_number    BIGINT NOT NULL,       -- the row a person sees: CSV line, Excel row
    reason_code   VARCHAR NOT NULL,
    reason        VARCHAR NOT NULL,
    raw           JSON,
    file_id       BIGINT NOT NULL,
    stage         VARCHAR NOT NULL,      -- ingest | staging
    run_id        VARCHAR,
    quarantined_at TIMESTAMP NOT NULL
);

-- Which feeds tonight's rules may use (written by the feed gate after the checks' measurements).
CREATE TABLE IF NOT EXISTS audit.feed_gate (
    as_of_date  DATE NOT NULL,
    feed        VARCHAR NOT NULL,
    usable      BOOLEAN NOT NULL,
    problems    VARCHAR,             -- why not, in Chinese; NULL when usable
    measured    JSON NOT NULL,       -- the figures behind the decision
    PRIMARY KEY (as_of_date, feed)
);

-- Each department's data quality per night.
CREATE TABLE IF NOT EXISTS audit.scorecards (
    as_of_date            DATE NOT NULL,
    department            VARCHAR NOT NULL,
    feed                  VARCHAR NOT NULL,
    extract_date          DATE,      -- tonight's extract
    days_since_last_file  INTEGER,
    expected_cadence_days INTEGER,
    fresh                 BOOLEAN,
    rows_tonight          BIGINT,
    completeness          DOUBLE,    -- share of tonight's rows with every required value
    validity              DOUBLE,    -- share of tonight's rows not quarantined
    duplicate_keys        BIGINT,
    files_rejected        BIGINT,    -- files of the feed rejected so far, up to the as-of date
    top_reasons           VARCHAR,
    usable                BOOLEAN,
    -- freshness (transform/audit/freshness.py)
    last_delivered        DATE,      -- newest file of any status, up to the as-of date
    age_days              INTEGER,   -- as-of − the newest loaded extract
    max_age_days          INTEGER,   -- allowed age, from the feed spec's max_age
    on_time               VARCHAR,   -- 是否按时: 按时 | 逾期 | 无可用文件 | 从未报送
    freshness_note        VARCHAR,   -- the same in a Chinese sentence
    PRIMARY KEY (as_of_date, feed)
);

-- Files seen by a run that were still being written (their size or time changed while it looked):
-- they are read on a later night. One row per file per run that saw it.
CREATE TABLE IF NOT EXISTS audit.files_waiting (
    feed        VARCHAR NOT NULL,
    file_name   VARCHAR NOT NULL,    -- masked, as everywhere outside the warehouse
    run_id      VARCHAR,
    seen_at     TIMESTAMP NOT NULL
);

-- Every workbook or file the pipeline wrote for someone outside the warehouse.
CREATE TABLE IF NOT EXISTS audit.export_log (
    as_of_date  DATE NOT NULL,
    file        VARCHAR NOT NULL,    -- path under <home>/exports/
    kind        VARCHAR NOT NULL,    -- township | department | quality | model_card | manifest
    recipient   VARCHAR,             -- township code, department or feed
    rows        BIGINT,
    sha256      VARCHAR NOT NULL,
    run_id      VARCHAR,
    written_at  TIMESTAMP NOT NULL
);
