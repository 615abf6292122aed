"""Subcommands of the ``depthkit`` CLI, one module each with ``add_parser(subparsers)``."""
