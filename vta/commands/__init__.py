"""Subcommands of the ``vta`` CLI; each module defines ``register(subparsers)``."""
