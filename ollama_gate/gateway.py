"""Gateway: one endpoint in front of several ollama-gate backends.

A gateway host runs only the proxy. Its clients authenticate with the gateway's own auth
mode and credentials; the proxy balances their requests over a pool of backends (ordinary
ollama-gate endpoints) and authenticates to them with a service credential of its own.
This module is pure: the pool as nginx sees it, and the include that carries the service
credential. ``proxy.render_proxy_config(settings, pool=...)`` renders the gateway's config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .secrets_file import Secret

# What may stand inside the double quotes of an nginx directive: a Basic token (base64)
# or a Bearer key. Anything else (quotes, ";", "$", spaces) is refused, not escaped.
_HEADER_VALUE = re.compile(r"(Basic|Bearer) [A-Za-z0-9._~+/=-]{1,1024}")


@dataclass(frozen=True)
class Backend:
    """One backend as the gateway reaches it.

    + name: the backend's inventory name (shown in the config, the summary and the report)
    + address: ``host:port`` the gateway connects to
    + weight: its share of requests relative to the others (nginx ``weight``)
    """

    name: str
    address: str
    weight: int = 1


@dataclass(frozen=True)
class Pool:
    """The gateway's backends and how it balances over them.

    + backends: the Backends, in a stable order (the config changes only when they do)
    + max_fails, fail_timeout: a backend failing max_fails times within fail_timeout
      seconds gets no requests for fail_timeout seconds
    + connect_timeout: seconds to wait for a backend's TCP (and TLS) handshake
    + keepalive: idle connections to the backends kept open per worker
    + tls: the backends speak HTTPS; ``trusted_certs`` (PEM) are what the gateway trusts,
      ``tls_name`` the name it checks their certificates against
    """

    backends: tuple
    max_fails: int = 2
    fail_timeout: int = 10
    connect_timeout: int = 5
    keepalive: int = 32
    tls: bool = False
    tls_name: str = ""
    trusted_certs: str = field(default="", repr=False)


def service_auth_conf(authorization: Secret) -> str:
    """The include that makes the gateway send its service credential to every backend.

    ``authorization`` is the full header value (``checks.authorization(...)``); the file is a
    secret and is written like a credential file (root:<worker gid> 0640, never shown).
    """
    value = authorization.reveal()
    if not _HEADER_VALUE.fullmatch(value):
        raise ValueError(f"gateway: the service credential {authorization.name!r} cannot be "
                         "sent as an Authorization header")
    return ("# The gateway's credential for its backends (managed by ollama-gate).\n"
            f'proxy_set_header Authorization "{value}";\n')
