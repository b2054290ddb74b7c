pytest_plugins = ["crmsync.fakes.pytest_plugin"]
