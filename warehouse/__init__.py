"""The DuckDB warehouse: resource, schema setup, and the SQL that defines its tables."""

from warehouse.resource import connect, ensure_schema

__all__ = ["connect", "ensure_schema"]
