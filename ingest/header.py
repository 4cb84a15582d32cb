"""Finding the header row under title rows, and mapping delivered names to the spec's."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.problems import FileProblem
from jiuzhu.config import Feed, normalise_header

MAX_HEADER_SEARCH_ROWS = 12  # FEEDS.md: up to 5 title or note rows, plus blank ones


@dataclass(frozen=True)
class HeaderMatch:
    index: int  # 0-based position of the header among the rows searched
    canonical: tuple[str | None, ...]  # per delivered column: the spec's name, or None for extras
    delivered: tuple[str, ...]  # per delivered column: the header as delivered
    score: int

    @property
    def extras(self) -> list[tuple[int, str]]:
        return [(i, self.delivered[i] or f"未命名列{i + 1}") for i, c in enumerate(self.canonical) if c is None]

    def position(self, column: str) -> int | None:
        try:
            return self.canonical.index(column)
        except ValueError:
            return None


def match_header(cells: list[str], feed: Feed) -> HeaderMatch:
    lookup = feed.header_lookup()
    canonical: list[str | None] = []
    taken: set[str] = set()
    for cell in cells:
        name = lookup.get(normalise_header(cell)) if cell else None
        if name in taken:  # the same column delivered twice: the first one counts
            name = None
        if name:
            taken.add(name)
        canonical.append(name)
    delivered = tuple("" if c is None else str(c).strip() for c in cells)
    return HeaderMatch(0, tuple(canonical), delivered, len(taken))


def find_header(rows: list[list[str]], feed: Feed) -> HeaderMatch:
    """The row among the first few that names the most spec columns (at least two)."""
    best: HeaderMatch | None = None
    for i, cells in enumerate(rows[:MAX_HEADER_SEARCH_ROWS]):
        m = match_header(cells, feed)
        if m.score and (best is None or m.score > best.score):
            best = HeaderMatch(i, m.canonical, m.delivered, m.score)
    if best is None or best.score < min(2, len(feed.columns)):
        raise FileProblem("NO_HEADER", f"前 {MAX_HEADER_SEARCH_ROWS} 行中找不到表头：没有与 {feed.name} 列名相符的一行")
    return best


def require_columns(match: HeaderMatch, feed: Feed) -> None:
    missing = [c for c in feed.required if match.position(c) is None]
    if missing:
        raise FileProblem("MISSING_REQUIRED", f"缺少必填列：{'、'.join(missing)}；整个文件未加载，请补齐后重新报送")
