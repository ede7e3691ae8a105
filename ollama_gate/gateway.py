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


# --- The fleet: which hosts are gateways, and whose backends ---------------------------
# A host in this inventory group is a gateway (pyinfra's way of giving hosts a role:
# `gateway = ["gw.example.com"]` in the inventory, settings in group_data/gateway.py).
GATEWAY_GROUP = "gateway"


@dataclass(frozen=True)
class Fleet:
    """Who is what: gateway name -> its backends' names (inventory order), and the reverse."""

    pools: dict = field(default_factory=dict)
    gateway_of: dict = field(default_factory=dict)

    def role(self, name: str) -> str:
        """"gateway", "backend" or "endpoint" (an ordinary host)."""
        if name in self.pools:
            return "gateway"
        return "backend" if name in self.gateway_of else "endpoint"


def plan_fleet(hosts, groups_of) -> tuple[Fleet, list[str]]:
    """The fleet of an inventory, and every problem with it.

    + hosts: ``{name: settings}`` of every host, in inventory order
    + groups_of: ``{name: [group, ...]}``, the inventory groups of each host

    A gateway's ``gateway_backends`` names inventory groups or hosts. Its backends must
    exist, must not be gateways, must share one auth mode and one proxy_tls (the gateway
    sends one Authorization header and speaks one scheme to its pool), and belong to
    one gateway only (they take its model list).
    """
    errors: list[str] = []
    members: dict[str, list[str]] = {}
    for name in hosts:
        for group in groups_of.get(name, ()):
            members.setdefault(group, []).append(name)
    gateways = [n for n in hosts if GATEWAY_GROUP in groups_of.get(n, ())]
    pools: dict[str, tuple] = {}
    gateway_of: dict[str, str] = {}
    for gw in gateways:
        chosen: list[str] = []
        for ref in hosts[gw].gateway_backends:
            if ref in hosts:
                found = [ref]
            elif ref in members:
                found = members[ref]
            else:
                errors.append(f"{gw}: gateway_backends: {ref!r} is neither a host nor a group of the inventory")
                continue
            chosen += [n for n in found if n not in chosen]
        if not hosts[gw].gateway_backends:
            errors.append(f"{gw}: gateway_backends: a gateway needs backends (inventory group or host names)")
        for name in chosen:
            if name == gw or name in gateways:
                errors.append(f"{gw}: gateway_backends: {name!r} is a gateway itself; a backend runs Ollama")
            elif name in gateway_of and gateway_of[name] != gw:
                errors.append(f"{gw}: gateway_backends: {name!r} is already a backend of {gateway_of[name]!r}; "
                              "a backend takes the model list of one gateway")
            else:
                gateway_of[name] = gw
        chosen = [n for n in chosen if gateway_of.get(n) == gw]
        for setting in ("auth_mode", "proxy_tls"):
            values = {getattr(hosts[n], setting) for n in chosen}
            if len(values) > 1:
                errors.append(f"{gw}: {setting}: its backends differ ({', '.join(sorted(map(str, values)))}); "
                              f"the backends of one gateway share one {setting}")
        if chosen:
            pools[gw] = tuple(chosen)
    return Fleet(pools, gateway_of), errors


def backend_address(name: str, settings, data) -> str:
    """``host:port`` at which a gateway reaches backend ``name``.

    ``gateway_backend_address`` when set (an address of a private network, or a name the
    gateway resolves), else the address pyinfra connects to (ssh_hostname) or the name.
    """
    host = settings.gateway_backend_address or data.get("ssh_hostname") or name
    return f"{host}:{settings.proxy_port}"
