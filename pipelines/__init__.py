"""Dagster wiring (definitions, jobs) and the `jiuzhu` command line. No business logic here."""
