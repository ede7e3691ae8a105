"""Gateway: one endpoint in front of several ollama-gate backends.

A gateway host runs only the proxy. Its clients authenticate with the gateway's own auth
mode and credentials; the proxy balances their requests over a pool of backends (ordinary
ollama-gate endpoints) and authenticates to them with a service credential of its own.
This module is pure: the pool as nginx sees it, and the include that carries the service
credential. ``proxy.render_proxy_config(settings, pool=...)`` renders the gateway's config.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from .secrets_file import Secret

# What may stand inside the double quotes of an nginx directive: a Basic token (base64)
# or a Bearer key. Anything else (quotes, ";", "$", spaces) is refused, not escaped.
_HEADER_VALUE = re.compile(r"(Basic|Bearer) [A-Za-z0-9._~+/=-]{1,1024}")


@dataclass(frozen=True)
class Backend:
    """One backend as the gateway reaches it.

    + name: the backend's inventory name (shown in the config, the summary and the report)
    + address: ``host:port`` the gateway connects to (``IPv4:port`` for a TLS backend)
    + weight: its share of requests relative to the others (nginx ``weight``)
    + tls_name: with TLS, the DNS name its certificate must carry (see ``tls_name``)
    + trust: with TLS, the local PEM files the gateway trusts for it (see ``trust_paths``)
    """

    name: str
    address: str
    weight: int = 1
    tls_name: str = ""
    trust: tuple = ()


@dataclass(frozen=True)
class Pool:
    """The gateway's backends and how it balances over them.

    + backends: the Backends, in a stable order (the config changes only when they do)
    + max_fails, fail_timeout: a backend failing max_fails times within fail_timeout
      seconds gets no requests for fail_timeout seconds
    + connect_timeout: seconds to wait for a backend's TCP (and TLS) handshake
    + keepalive: idle connections to the backends kept open per worker
    + tls: the backends speak HTTPS; each backend's certificate is checked against
      ``trusted_certs`` (PEM; the deploy writes ``trust_bundle`` instead) and its own
      ``tls_name``
    """

    backends: tuple
    max_fails: int = 1
    fail_timeout: int = 10
    connect_timeout: int = 5
    keepalive: int = 32
    tls: bool = False
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
        modes = {hosts[n].auth_mode for n in chosen}
        if len(modes) > 1:
            errors.append(f"{gw}: auth_mode: its backends differ ({', '.join(sorted(map(str, modes)))}); "
                          "the backends of one gateway share one auth_mode")
        # One scheme for the pool (nginx's proxy_pass names it); self-signed, provided and
        # acme backends may be mixed, each is checked against its own certificate.
        plain = [n for n in chosen if hosts[n].proxy_tls == "off"]
        if plain and len(plain) < len(chosen):
            errors.append(f"{gw}: proxy_tls: its backends differ (off on {', '.join(plain)}, TLS on "
                          f"{', '.join(n for n in chosen if n not in plain)}); the backends of one gateway "
                          "all use TLS or none does")
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


# --- TLS to the backends: which name each certificate must carry, what is trusted -----
# nginx checks one proxy_ssl_name per request; the gateway's config maps the address nginx
# connected to ($upstream_addr, always IP:port) to that backend's name. So a TLS backend is
# given by IP address, and its certificate's name is checked, never verification turned off.

_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _hostname(value: str) -> bool:
    """A DNS name nginx can check a certificate against (labels; no address)."""
    try:
        ipaddress.ip_address(value.strip("[]"))
        return False
    except ValueError:
        pass
    # (an empty value has one empty label, which _LABEL refuses)
    return len(value) <= 253 and all(_LABEL.fullmatch(label) for label in value.rstrip(".").split("."))


def tls_name(name: str, settings) -> tuple[str, str | None]:
    """``(name, None)``: the DNS name backend ``name``'s certificate is checked against, or
    ``("", why not)``. self-signed: its inventory name (always on that certificate);
    acme: the first ACME name; provided: the host of its proxy_public_url."""
    from .settings import acme_names, public_host

    if settings.proxy_tls == "self-signed":
        if _hostname(name):
            return name, None
        return "", (f"proxy_tls: backend {name!r} is self-signed and its inventory name is not a DNS name; "
                    "the gateway checks a self-signed backend's certificate by its inventory name: name it "
                    "like a host (set ssh_hostname to its address)")
    if settings.proxy_tls == "acme":
        names = acme_names(settings)
        return (names[0], None) if names else ("", f"proxy_acme_names: backend {name!r} has no ACME name")
    host = public_host(settings)
    if _hostname(host):
        return host, None
    return "", (f"proxy_public_url: backend {name!r} uses a provided certificate; the gateway checks it "
                "against the host of its proxy_public_url, which must be the DNS name on that certificate "
                f"(it is {host or 'not set'!r})")


def tls_address_error(name: str, address: str) -> str | None:
    """Why a TLS backend cannot be reached at ``address`` (``host:port``), or None."""
    host = address.rsplit(":", 1)[0]
    try:
        ipaddress.IPv4Address(host)
        return None
    except ValueError:
        return (f"gateway_backend_address: TLS backend {name!r} is reached at {host!r}; behind a gateway a "
                "TLS backend is given by its IPv4 address (the gateway tells its backends apart by the "
                "address it connected to, to check each one's certificate name): set "
                f"gateway_backend_address (or ssh_hostname) of {name} to an IPv4 address")


PUBLIC_CAS = "public CAs"  # trust_paths: the certifi bundle (Mozilla's roots) of this machine


def trust_paths(name: str, settings, base_dir: Path) -> tuple[str, ...]:
    """The local PEM files a gateway trusts for backend ``name``: its gateway_backend_ca
    when set, else a self-signed backend's own certificate as the deploy fetched it (tls/<name>.crt), an acme backend's
    proxy_acme_ca_cert (else the public CAs), a provided one's certificate file (itself,
    or its chain up to its root) and the public CAs."""
    from . import tls
    from .settings import resolve_local_path

    if settings.gateway_backend_ca:
        return (str(resolve_local_path(settings.gateway_backend_ca, base_dir)),)
    if settings.proxy_tls == "self-signed":
        return (str(tls.trust_file(name, base_dir)),)
    if settings.proxy_tls == "acme":
        if settings.proxy_acme_ca_cert:
            return (str(resolve_local_path(settings.proxy_acme_ca_cert, base_dir)),)
        return (PUBLIC_CAS,)
    return (str(resolve_local_path(settings.proxy_tls_cert, base_dir)), PUBLIC_CAS)


class TrustMissing(Exception):
    """A file the gateway's trust bundle needs is not there (yet)."""


# While a run is prepared (a preview of its changes), a self-signed backend's certificate
# may not be fetched yet: the run fetches it before it writes the bundle.
TRUST_PREVIEW = "# The backends' certificates, fetched by this run before this file is written.\n"


def backend_trust_bundle(pool: Pool, executing: bool, transitional: bool = False) -> str:
    """``trust_bundle`` for the deploy's ``stack.file``: a missing file fails the gateway
    host with the reason when the run executes; a preview says it is fetched first.
    ``transitional``: also the certificates this run's fetches replaced (``tls.REPLACED``)."""
    from .operations.util import ContentUnavailable
    from .tls import REPLACED

    try:
        return trust_bundle(pool, REPLACED if transitional else None)
    except TrustMissing as e:
        if not executing:
            return TRUST_PREVIEW
        raise ContentUnavailable(str(e)) from None


def trust_bundle(pool: Pool, replaced: dict | None = None) -> str:
    """The PEM bundle a gateway trusts its backends by: each file of each backend's
    ``trust`` once, under a comment naming whose it is. Read when the deploy writes it, so
    a self-signed backend's certificate fetched earlier in the same run is in it.

    + replaced: path -> what that file held before this run fetched it again (a backend's
      previous certificate): trusted as well, for the moment both reload (transitional)
    """
    import certifi

    parts: list[str] = ["# The certificates this gateway trusts its backends by (managed by ollama-gate).\n"]
    seen: set[str] = set()
    for b in pool.backends:
        for path in b.trust:
            if path in seen:
                continue
            seen.add(path)
            source = certifi.where() if path == PUBLIC_CAS else path
            try:
                text = Path(source).read_text()
            except OSError as e:
                raise TrustMissing(f"gateway: no certificate of backend {b.name} to trust at {source} "
                                   f"({e.strerror or e}); a self-signed backend's is fetched by its own deploy: "
                                   f"deploy {b.name} (it failed or was left out of this run)") from None
            if "BEGIN CERTIFICATE" not in text:
                raise TrustMissing(f"gateway: {source} (trusted for backend {b.name}) holds no PEM certificate")
            parts.append(f"# {b.name}: {path}\n{text.strip()}\n")  # PUBLIC_CAS reads "public CAs"
            old = (replaced or {}).get(path)
            if old and old.strip() != text.strip() and "BEGIN CERTIFICATE" in old:
                parts.append(f"# {b.name}: its previous certificate, until it has reloaded with the new one\n"
                             f"{old.strip()}\n")
    return "".join(parts)


# --- Verification from the gateway: each backend, then the gateway itself ------------
# (pure: probes out, answers in; operations/endpoint.py runs them on the gateway host)

def backend_url(backend: Backend, tls: bool) -> str:
    """The backend's proxy as the gateway reaches it: with TLS by the name its certificate
    carries (a client resolves it to ``backend.address``, see ``backend_resolve``)."""
    if tls:
        return f"https://{backend.tls_name}:{backend.address.rsplit(':', 1)[1]}"
    return f"http://{backend.address}"


def backend_resolve(backend: Backend) -> str:
    """curl's ``--resolve`` for a TLS backend: its name at its address (``name:port:ip``)."""
    host, port = backend.address.rsplit(":", 1)
    return f"{backend.tls_name}:{port}:{host}"


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
        tls = f" TLS as {b.tls_name}" if b.tls_name else ""
        lines.append(f"  {b.name}: {b.address}{tls} weight {b.weight}: {states.get(b.name, 'not checked')}")
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
