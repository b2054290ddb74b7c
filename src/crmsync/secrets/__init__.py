"""Secrets at rest and in flight: the vault key, authenticated encryption, and masking of live values."""
