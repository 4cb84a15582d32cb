"""What every per-feed asset shares: its key under a layer, pool, owner and tags."""

from __future__ import annotations

import dagster as dg

from jiuzhu.config import Feed
from pipelines.settings import WAREHOUSE_POOL


def feed_asset_args(feed: Feed, layer: str, description: str, deps: list[dg.AssetKey] | None = None) -> dict:
    """Keyword arguments of ``@dg.asset`` for ``<layer>.<feed>`` (the asset key names the table)."""
    return dict(
        name=feed.name,
        key_prefix=[layer],
        group_name=layer,
        deps=deps or [],
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        owners=[f"team:{feed.department_id}"],
        tags={"layer": layer, "department": feed.department_id, "feed_kind": feed.kind},
        description=description,
    )
