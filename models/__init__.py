"""The rules engine (policy file -> rule hits) and the risk model (features -> probability).

Filled by the warning-list and risk-model issues; no I/O lives here.
"""
