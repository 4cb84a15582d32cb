"""Synthetic 昌乐县: a messy landing zone in the layout of FEEDS.md and its ground truth.

    from synth import generate
    summary = generate(pathlib.Path("/tmp/county"), households=3000)

Modules: county (generate: the whole run), population (people), history (month-by-month life), planted (rule cases),
delivery (records -> files), mess (spoiled cells), writers (CSV/XLSX bytes),
truth (ground truth), rates (every rate in one place).
"""

from .county import generate

__all__ = ["generate"]
