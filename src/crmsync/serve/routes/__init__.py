"""The API's routes, one module per area; handlers stay thin and call the library functions the CLI calls."""
