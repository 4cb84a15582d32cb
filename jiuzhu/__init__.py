"""jiuzhu (救助): low-income population monitoring and early warning for 昌乐县.

This small package is the shared kernel: where the project's configuration lives
and how it is read (feed spec, township table, policy files), plus helpers that
both the pipeline and the synthetic generator need (ID-number arithmetic).
"""

__version__ = "0.1.0"
