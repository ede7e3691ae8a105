"""Facts about the host itself that the stack's settings depend on."""

from __future__ import annotations

from pyinfra.api import FactBase


class MemoryTotal(FactBase):
    """
    Returns the host's memory in MB (MemTotal of /proc/meminfo), or None when unknown.
    Read from /proc, not vmstat: minimal hosts lack procps.

    .. code:: python

        15953
    """

    def command(self) -> str:
        return "awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || true"

    def process(self, output: list[str]) -> int | None:
        lines = [line.strip() for line in output if line.strip()]
        if not lines or not lines[0].isdigit():
            return None
        return int(lines[0]) // 1024
