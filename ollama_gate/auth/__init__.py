"""Auth modes: everything that differs between the ways clients authenticate, in one place.

The rest of the project asks the registry (``mode_of(settings)``, ``MODES``) and never
compares ``auth_mode`` with a name. A mode (``mode.AuthMode``) gives its secrets file
section, its credential file and renderer, the proxy flavor and image setting it needs
(and so the workers' gid), its block of the proxy config, what the verification sends and
expects (Authorization header, WWW-Authenticate), and its label in the summary.

How to add a mode (say ``mtls``):

1. ``ollama_gate/auth/mtls.py``: a subclass of ``AuthMode`` setting every attribute and
   method, and ``MODE = Mtls()``. Put what only this mode knows (value rules, file format)
   here or in a module it alone imports.
2. One registry entry: add ``mtls.MODE`` to ``_ALL`` below. The ``auth_mode`` setting,
   the secrets file sections, the CLI's ``new-...`` command, the deploy, the verification
   and the summary take it from there.
3. Its template block ``templates/proxy/auth/mtls.conf.j2`` with the macros ``log_user``,
   ``http``, ``server`` and ``location`` (see basic.conf.j2); files it uploads as they are
   go in ``files/proxy/`` and in ``proxy_files``.
4. Its tests: a unit test of its credential file and probes, an integration test of its
   rendered config on a real nginx (tests/integration/test_proxy_<mode>.py), and the
   parametrised tests over ``MODES`` pick it up.
5. Its README row: the ``auth_mode`` setting lists the modes.

An unknown name is an error (``UnknownAuthMode``), never another mode's branch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import basic, bearer
from .mode import AuthMode

if TYPE_CHECKING:
    from ..settings import Settings

_ALL = (basic.MODE, bearer.MODE)
MODES: dict[str, AuthMode] = {m.name: m for m in _ALL}
MODE_NAMES: tuple[str, ...] = tuple(MODES)
assert len({m.section for m in _ALL}) == len(_ALL) and len({m.credential_file for m in _ALL}) == len(_ALL)


class UnknownAuthMode(ValueError):
    def __init__(self, name: object):
        super().__init__(f"auth_mode: {name!r} is not an auth mode (one of {', '.join(map(repr, MODE_NAMES))})")


def mode(name: str) -> AuthMode:
    """The mode called ``name``; an unknown name raises UnknownAuthMode."""
    try:
        return MODES[name]
    except (KeyError, TypeError):
        raise UnknownAuthMode(name) from None


def mode_of(settings: Settings) -> AuthMode:
    """The mode of a host's settings."""
    return mode(settings.auth_mode)


def by_section(section: str) -> AuthMode:
    """The mode whose credentials live under ``section`` of the secrets file."""
    for m in _ALL:
        if m.section == section:
            return m
    raise ValueError(f"secrets file: {section!r} is no section of any auth mode")


SECTIONS: dict[str, str] = {m.name: m.section for m in _ALL}

__all__ = ["AuthMode", "MODES", "MODE_NAMES", "SECTIONS", "UnknownAuthMode", "by_section", "mode", "mode_of"]
