"""Reproducible performance runs against the fake CRMs (``python -m benchmarks``; ``make bench``)."""
