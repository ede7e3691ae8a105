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
    max_fails: int = 1
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
        tls = [n for n in chosen if hosts[n].proxy_tls != "off"]
        if tls:
            errors.append(f"{gw}: proxy_tls: backends with TLS ({', '.join(tls)}) are not supported behind a "
                          "gateway yet; set proxy_tls = \"off\" on them (and keep them on a private network)")
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


# --- Verification from the gateway: each backend, then the gateway itself ------------
# (pure: probes out, answers in; operations/endpoint.py runs them on the gateway host)

def backend_url(backend: Backend, tls: bool) -> str:
    """The backend's proxy as the gateway reaches it."""
    return f"{'https' if tls else 'http'}://{backend.address}"


def backend_probes(service: Secret):
    """What proves a backend from its gateway: the service credential gets 200 (listing the
    models), no credential gets 401. ``service`` is the Authorization header (a Secret)."""
    from .checks import ACCEPTED, NONE_REFUSED, Probe

    return [Probe(ACCEPTED, service.name, "GET", "/api/tags", 200, service),
            Probe(NONE_REFUSED, "(none)", "GET", "/api/tags", 401)]


def backend_state(checks) -> str:
    """"up", or why not, for the summary."""
    failed = [c for c in checks if not c.ok]
    if not failed:
        return "up"
    return "; ".join(f"{c.check} expected {c.expected}, got {c.actual}" for c in failed)


def pool_summary(pool: Pool, states: dict) -> list[str]:
    """The summary's pool lines: each backend with its address, weight and state."""
    lines = [f"Pool:            {len(pool.backends)} backend(s), least connections, "
             f"out for {pool.fail_timeout}s after {pool.max_fails} failure(s)"]
    for b in pool.backends:
        lines.append(f"  {b.name}: {b.address} weight {b.weight}: {states.get(b.name, 'not checked')}")
    return lines


def backends_report(pool: Pool, tls: bool, checks_of: dict) -> dict:
    """The report's entry per backend: url, weight, state, ok and its checks."""
    from dataclasses import asdict

    return {
        b.name: {"url": backend_url(b, tls), "weight": b.weight,
                 "ok": all(c.ok for c in checks_of.get(b.name, [])) and b.name in checks_of,
                 "state": backend_state(checks_of.get(b.name, [])) if b.name in checks_of else "not checked",
                 "checks": [asdict(c) for c in checks_of.get(b.name, [])]}
        for b in pool.backends
    }
