"""Canonical tables and the bookkeeping around them (links, runs, set-aside records, history)."""
