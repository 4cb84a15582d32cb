"""Dagster assets, one module per layer of the warehouse."""
