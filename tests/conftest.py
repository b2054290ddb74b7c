# fakes; project + amo for CLI tests; a throwaway PostgreSQL server (pg_server, pg_dsn)
pytest_plugins = ["crmsync.fakes.pytest_plugin", "tests.integration.cli_project", "tests.postgres_plugin",
                  "tests.store_plugin"]  # the store a test runs on (duckdb | postgres)
