"""System packages the gate needs on its hosts beside Docker (curl, for verification)."""

from __future__ import annotations

from pyinfra.api import operation
from pyinfra.operations import apt


def packages_with_update(packages):
    """apt.packages, with `apt-get update` first only when something will be installed,
    so a no-change run stays offline and reports no change."""
    commands = list(apt.packages._inner(packages=list(packages)))
    if commands:
        yield from apt.update._inner()
        yield from commands


@operation()
def packages(packages: list[str]):
    """
    Ensure Debian/Ubuntu packages are installed.

    + packages: package names

    **Example:**

    .. code:: python

        system.packages(name="Ensure curl is installed.", packages=["curl"])
    """
    yield from packages_with_update(packages)
