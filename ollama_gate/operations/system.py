"""System packages the gate needs on its hosts beside Docker (curl, for verification)."""

from __future__ import annotations

from pyinfra.api import operation
from pyinfra.operations import apt

from ..facts.system import InstalledPackages
from .snapshot import fresh, known


def packages_with_update(packages):
    """apt.packages for the packages that are missing, with `apt-get update` first, so a
    no-change run stays offline and reports no change. dpkg is asked about these names
    only (never the whole `dpkg -l`), from the run's HostState when deploy.py declared them."""
    packages = list(packages)
    have = set(known(InstalledPackages, packages=packages))
    missing = [p for p in packages if p not in have]
    if missing:
        # Asked again before installing: an earlier operation of this run may have
        # installed them (Docker's packages bring curl and ca-certificates).
        have = set(fresh(InstalledPackages, packages=missing))
        missing = [p for p in missing if p not in have]
    if missing:
        yield from apt.update._inner()
        yield from apt.packages._inner(packages=missing)


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
