pytest_plugins = ["crmsync.fakes.pytest_plugin", "tests.integration.cli_project"]  # fakes; project + amo for CLI tests
