"""The command-line commands; see ``vid2vid/__main__.py`` for the registry."""
