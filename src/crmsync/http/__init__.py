"""HTTP to the CRMs: pacing under each API's rate limit, retries with backoff, error classification."""
