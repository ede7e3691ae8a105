"""System packages the gate needs on its hosts beside Docker (curl, for verification).

apt only: the supported hosts are Debian and Ubuntu (anything else is refused before a
command runs), so the operation says so in its name rather than pretending to be
pyinfra's package-manager-neutral ``server.packages``."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation
from pyinfra.operations import apt

from ..facts.system import InstalledPackages, MissingUsers
from .snapshot import fresh, known
from .util import fail_host


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
def apt_packages(packages: list[str]):
    """
    Ensure Debian/Ubuntu packages are installed, with apt.

    pyinfra's ``apt.packages`` installs them; what is ours is the decision around it.
    ``apt.packages(update=True)`` would run ``apt-get update`` on every run (or whenever
    its cache is older than ``cache_time``), so a no-change rerun would change something
    and need the network; here ``apt-get update`` runs only when a package is missing,
    and dpkg is asked about these names only (pyinfra's ``DebPackages`` lists every
    package of the host), from the run's one HostState read.

    + packages: package names

    **Example:**

    .. code:: python

        system.apt_packages(name="Ensure curl is installed.", packages=["curl"])
    """
    yield from packages_with_update(packages)


@operation()
def users_exist(users: list[str], setting: str):
    """
    Stop before anything changes if a user the settings name has no account on the host.

    + users: the user names
    + setting: the setting that names them (for the message)

    **Example:**

    .. code:: python

        system.users_exist(name="Check that the docker_users exist.", users=["deploy"],
                           setting="docker_users")
    """
    if not users:
        host.noop(f"{setting} names no user")
        return
    missing = host.get_fact(MissingUsers, users=list(users))
    if missing:
        yield from fail_host(f"{setting}: no user {', '.join(map(repr, missing))} on this host; create "
                             f"{'it' if len(missing) == 1 else 'them'} first or remove "
                             f"{'it' if len(missing) == 1 else 'them'} from {setting}")
        return
    host.noop(f"the users of {setting} exist: {', '.join(users)}")
