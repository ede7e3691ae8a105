"""Checks of the inventory itself, before any host is touched: a host whose groups disagree
on a setting, and --data keys that are neither settings nor pyinfra's own."""

from __future__ import annotations

import difflib
from typing import Any

from .settings import SETTING_NAMES

# The inventory's hosts are in these pseudo-groups too; their data is not group data.
_NOT_GROUPS = ("all",)


def pyinfra_data_keys() -> set[str]:
    """Data keys pyinfra itself reads: its connectors' (ssh_port, docker_identifier, ...)
    and its global arguments (_sudo, _timeout, ...)."""
    from pyinfra.api.arguments import all_argument_meta
    from pyinfra.api.connectors import get_all_connectors

    keys = set(all_argument_meta)
    for connector in get_all_connectors().values():
        keys |= set(getattr(connector, "data_meta", {}) or {})
    return keys


def is_pyinfra_key(key: str, known: set[str] | None = None) -> bool:
    return key.startswith("_") or key in (known if known is not None else pyinfra_data_keys())


def group_conflicts(inventory) -> list[str]:
    """``host: setting: ...`` for each setting two groups of a host set differently, when
    neither the host's own data nor --data decides. pyinfra would silently take the value
    of whichever group comes last; a host in a basic group and a bearer group would switch
    modes by the order of a list."""
    errors = []
    override = inventory.get_override_data()
    for host in inventory:
        own = inventory.get_host_data(host.name)
        groups = [g for g in host.groups if g not in _NOT_GROUPS]
        for name in SETTING_NAMES:
            if name in own or name in override:
                continue
            values: list[tuple[str, Any]] = [(g, inventory.get_group_data(g)[name]) for g in groups
                                             if name in inventory.get_group_data(g)]
            distinct = []
            for group, value in values:
                if all(value != seen for _, seen in distinct):
                    distinct.append((group, value))
            if len(distinct) > 1:
                said = ", ".join(f"{g} sets {v!r}" for g, v in distinct)
                errors.append(f"{host.name}: {name}: the host is in groups that disagree ({said}); set "
                              f"{name} in the host's own data, or keep the host in one of those groups")
    return errors


def unknown_data_keys(inventory) -> list[str]:
    """Warnings for --data keys that are not settings and not pyinfra's own, naming the
    closest setting: `--data model=...` would otherwise be silently ignored."""
    known = pyinfra_data_keys()
    warnings = []
    for key in inventory.get_override_data():
        if key in SETTING_NAMES or is_pyinfra_key(key, known):
            continue
        close = difflib.get_close_matches(key, SETTING_NAMES, n=1, cutoff=0.5) or [
            n for n in SETTING_NAMES if n.startswith(key + "_") or n.startswith(key)][:1]
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"--data {key}: not an ollama-gate setting, and pyinfra does not use it "
                        f"either: it is ignored{hint}")
    return warnings
