-- The warehouse's schemas, created before any table (warehouse/resource.py ensure_schema):
-- raw.<feed> as delivered, audit.* (files, quarantine, quality, exports), staging.<feed>
-- standardised, core.* as of the night, monitoring.* the warning list and scores, model.* the
-- training history (model.sql), simulation.* the policy simulations (simulation.sql). restricted (ID numbers for the exports) is created by the code
-- that builds it. (Training builds past nights in a database of its own, in memory; the train_* schemas an
-- earlier version left here are dropped by warehouse/migrations.py.)
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS audit;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS monitoring;
CREATE SCHEMA IF NOT EXISTS simulation;
