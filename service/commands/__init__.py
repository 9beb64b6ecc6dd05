"""Subcommands of `tamis`; each module exposes `register(subparsers)`."""
