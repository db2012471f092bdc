"""Command line: thin wrappers that parse arguments and call the same functions a Python user calls."""
