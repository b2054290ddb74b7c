"""crmsync: declarative two-way sync between CRMs and a local DuckDB store."""

__version__ = "0.1.0"
