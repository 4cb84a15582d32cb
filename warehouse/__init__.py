"""The DuckDB warehouse: resource, schema setup, and the SQL that defines its tables."""

from warehouse.resource import Warehouse, connect, ensure_schema

__all__ = ["Warehouse", "connect", "ensure_schema"]
