"""The partitioner's error (a :class:`~compiler.errors.CompilerError`, so the CLI prints it
as one ``error:`` line)."""

from compiler.errors import CompilerError


class PartitionError(CompilerError):
    """Bad partitioning input: an unknown pin or target, a pin to an incapable device, a node
    no allowed device can run, a dangling input or a cycle."""


__all__ = ["PartitionError"]
