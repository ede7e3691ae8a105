"""Proxy config: the nginx/OpenResty files that make Ollama an authenticated endpoint.

``render_proxy_config`` is pure: settings in, ``{filename: content}`` out, for the directory
the stack mounts read-only at ``/etc/nginx/conf.d`` in the proxy container. Both official
images include ``/etc/nginx/conf.d/*.conf`` inside ``http {}``, so the rendered
``ollama-gate.conf`` holds http-level directives (upstream, map, limit_req_zone, Lua
init) as well as the server. Files not ending in ``.conf`` (the Lua module, the DH
group) are read by path, never included.

Everything that differs between the images the config runs in is in ``FLAVORS``
(ollama_gate/flavors.py); everything that differs between auth modes, in ollama_gate/auth/.
"""

from __future__ import annotations

import re

from ollama_gate import FILES_DIR, TEMPLATES, auth
from ollama_gate.flavors import FLAVORS, Flavor  # noqa: F401  (Flavor: re-exported)
from ollama_gate.settings import Settings, public_port, setting_error


CONF_FILENAME = "ollama-gate.conf"
MAIN_FILENAME = "ollama-gate.main"
DHPARAM_FILENAME = "ffdhe2048.pem"

# Paths inside the proxy container (the deploy mounts these read-only): ollama_gate/layout.py.
from ollama_gate.layout import (ACME_WEBROOT, AUTH_DIR, CONF_DIR, TLS_CERT_FILENAME,  # noqa: E402,F401
                                TLS_DIR, TLS_KEY_FILENAME)
# A gateway's files: its credential for the backends (an nginx include holding a secret,
# in the credentials directory) and the backends' certificates it trusts (in conf.d).
SERVICE_AUTH_FILENAME = "backend-authorization.conf"
BACKEND_CA_FILENAME = "backends-ca.pem"
# acme mode: the container port of the plain-HTTP listener (HTTP-01 answers from
# ACME_WEBROOT, a redirect to HTTPS for everything else).
HTTP_PORT = 80

# Routes that pass to Ollama after authentication: an allow-list matched exactly against
# nginx's normalized URI ("//", "/./", "/../" and %XX already resolved), and forwarded as
# that normalized path, so Ollama never sees a spelling nginx did not match.
ALLOWED_ROUTES = (
    "/",
    "/api/generate",
    "/api/chat",
    "/api/embed",
    "/api/embeddings",
    "/api/tags",
    "/api/show",
    "/api/ps",
    "/api/version",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
)
# Routes whose last segment is a model name (``openai``'s ``models.retrieve()``): nginx
# regexes matched against the normalized URI. Ollama's router takes one segment here, so a
# model name with "/" in it is not served by Ollama either.
ALLOWED_PATTERNS = (
    "/v1/models/[A-Za-z0-9][A-Za-z0-9._:-]*",
)
# Ollama's administrative API: 403 for everyone through the proxy (any case, any suffix).
ADMIN_ROUTES = ("pull", "push", "delete", "create", "copy", "blobs")


def all_proxy_filenames() -> tuple[str, ...]:
    """Every file any settings may render into the proxy directory, in one fixed order: the
    deploy calls one operation per name on every host, so operation names line up."""
    from .auth import MODES

    names = {CONF_FILENAME, MAIN_FILENAME, DHPARAM_FILENAME, BACKEND_CA_FILENAME}
    for mode in MODES.values():
        names.update(mode.proxy_files)
    return tuple(sorted(names))


def container_port(settings: Settings) -> int:
    """The port the proxy listens on inside its container: 443 with TLS, else 80."""
    return 443 if settings.proxy_tls != "off" else 80


# Values that end up inside nginx config text. Anything outside these shapes could
# inject directives (";", "{", quotes) or variables ("$"), so it is refused, not escaped.
# The settings among them are held to the settings' own checks (one definition each, see
# ``_SETTINGS_IN_CONFIG``); these shapes are for the render arguments.
_UPSTREAM = re.compile(r"[A-Za-z0-9.-]{1,253}:[0-9]{1,5}|unix:/[A-Za-z0-9._/-]+")
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")
_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
_ADDRESS = re.compile(r"|[0-9.]{7,15}|\[[0-9a-fA-F:]+\]")


def _check(name: str, value, pattern: re.Pattern) -> str:
    text = str(value)
    if not pattern.fullmatch(text):
        raise ValueError(f"proxy config: {name}={value!r} is not allowed here")
    return text


# The settings that reach the config text or decide its shape.
_SETTINGS_IN_CONFIG = ("auth_mode", "auth_realm", "auth_fail_limit", "proxy_max_body", "proxy_read_timeout",
                       "proxy_tls", "proxy_hsts")


def render_proxy_config(
    settings: Settings,
    *,
    upstream: str = "ollama:11434",
    upstream_host: str = "localhost:11434",
    listen_port: int | None = None,
    http_port: int = HTTP_PORT,
    listen_address: str = "",
    flavor: str | None = None,
    conf_dir: str = CONF_DIR,
    auth_dir: str = AUTH_DIR,
    tls_dir: str = TLS_DIR,
    acme_webroot: str = ACME_WEBROOT,
    access_log: str = "/dev/stdout",
    pool=None,
) -> dict[str, str]:
    """Render the proxy's conf.d directory for ``settings``.

    + upstream: Ollama's address as nginx reaches it (the Compose service).
    + upstream_host: the Host header sent to Ollama (one its host check accepts).
    + listen_port: the port inside the container; default 443 with TLS, else 80.
    + http_port: acme mode's plain-HTTP listener (HTTP-01 answers, else a redirect)
    + listen_address: bind address ("" = all; tests pass 127.0.0.1).
    + flavor: a key of FLAVORS; default the image of the auth mode (``AuthMode.flavor``).
    + conf_dir, auth_dir, tls_dir, access_log: paths as the proxy sees them.
    + pool: a ``gateway.Pool``: this proxy is a gateway and balances over its backends
      instead of ``upstream`` (its credential for them is ``gateway.service_auth_conf``).

    **Example:** ``render_proxy_config(Settings(proxy_tls="self-signed"))``
    """
    # Settings built without settings_from_data (tests, the benchmark) get the same checks.
    for name in _SETTINGS_IN_CONFIG:
        if (err := setting_error(name, getattr(settings, name))) is not None:
            raise ValueError(f"proxy config: {name}: {err}")
    mode = auth.mode_of(settings)
    flavor = flavor or mode.flavor
    if flavor not in FLAVORS:
        raise ValueError(f"proxy config: unknown flavor {flavor!r}")
    if mode.needs_lua and not FLAVORS[flavor].lua:
        raise ValueError(f"proxy config: {mode.name} mode needs Lua, which the {FLAVORS[flavor].description} lacks")
    fail_limit = settings.auth_fail_limit
    read_timeout = settings.proxy_read_timeout

    tls = settings.proxy_tls != "off"
    port = int(listen_port if listen_port is not None else container_port(settings))
    if not 0 < port < 65536:
        raise ValueError(f"proxy config: listen_port={port} is not a port")
    address = _check("listen_address", listen_address, _ADDRESS)
    paths = {
        name: _check(name, value, _PATH)
        for name, value in (
            ("conf_dir", conf_dir),
            ("auth_dir", auth_dir),
            ("tls_dir", tls_dir),
            ("acme_webroot", acme_webroot),
            ("access_log", access_log),
        )
    }
    realm = settings.auth_realm
    max_body = settings.proxy_max_body
    context = {
        "auth_mode": mode.name,
        "auth_template": mode.template,
        "flavor_description": FLAVORS[flavor].description,
        "realm": realm,
        "fail_limit": fail_limit,
        # The first failure plus the burst pass at once; then one per 60/limit seconds.
        "fail_burst": fail_limit - 1,
        "max_body": max_body,
        "read_timeout": read_timeout,
        "tls": tls,
        "hsts": bool(settings.proxy_hsts),
        "listen": f"{address}:{port}" if address else str(port),
        "acme": settings.proxy_tls == "acme",
        "http_listen": f"{address}:{int(http_port)}" if address else str(int(http_port)),
        "acme_webroot": paths["acme_webroot"],
        # Where port 80 sends everything but challenges: the port clients use for HTTPS.
        "https_port_suffix": "" if public_port(settings) == 443 else f":{public_port(settings)}",
        "upstream": _check("upstream", upstream, _UPSTREAM),
        "upstream_host": _check("upstream_host", upstream_host, _HOST),
        "conf_dir": paths["conf_dir"],
        "access_log": paths["access_log"],
        "credential_file": f"{paths['auth_dir']}/{mode.credential_file}",
        "tls_cert": f"{paths['tls_dir']}/{TLS_CERT_FILENAME}",
        "tls_key": f"{paths['tls_dir']}/{TLS_KEY_FILENAME}",
        "dhparam": f"{paths['conf_dir']}/{DHPARAM_FILENAME}",
        # What the mode's own template block needs besides the above.
        **mode.template_context(),
        "allowed_routes": ALLOWED_ROUTES,
        "allowed_patterns": ALLOWED_PATTERNS,
        "admin_routes": ADMIN_ROUTES,
        "pool": _checked_pool(pool) if pool is not None else None,
        "backend_names": backend_name_map(pool) if pool is not None and pool.tls else [],
        "scheme": "https" if pool is not None and pool.tls else "http",
        "service_auth_conf": f"{paths['auth_dir']}/{SERVICE_AUTH_FILENAME}",
        "backend_ca": f"{paths['conf_dir']}/{BACKEND_CA_FILENAME}",
    }
    files = {CONF_FILENAME: TEMPLATES.get_template(f"proxy/{CONF_FILENAME}.j2").render(context)}
    for name in mode.proxy_files:
        files[name] = (FILES_DIR / "proxy" / name).read_text()
    if FLAVORS[flavor].pid_file:
        files[MAIN_FILENAME] = (
            "# ollama-gate: main-context directives (the image's nginx.conf includes conf.d/*.main).\n"
            "# The root filesystem is read-only; the pid file goes to a tmpfs.\n"
            f"pid {_check('pid_file', FLAVORS[flavor].pid_file, _PATH)};\n")
    if tls:
        files[DHPARAM_FILENAME] = (FILES_DIR / "proxy" / DHPARAM_FILENAME).read_text()
    if pool is not None and pool.tls:
        # The deploy writes gateway.trust_bundle(pool) here (read once the backends' own
        # certificates are fetched); tests and benchmarks pass the PEM in the pool.
        files[BACKEND_CA_FILENAME] = pool.trusted_certs
    return files


_NAME = re.compile(r"[A-Za-z0-9._@-]{1,253}")


def _checked_pool(pool):
    """The pool, with every value that reaches the config text in a safe shape."""
    if not pool.backends:
        raise ValueError("proxy config: a gateway needs at least one backend")
    for b in pool.backends:
        _check("backend name", b.name, _NAME)
        _check(f"address of backend {b.name}", b.address, _UPSTREAM)
        if not 1 <= int(b.weight) <= 1000:
            raise ValueError(f"proxy config: weight of backend {b.name} must be 1-1000, got {b.weight}")
    for name in ("max_fails", "fail_timeout", "connect_timeout", "keepalive"):
        if not 1 <= int(getattr(pool, name)) <= 100000:
            raise ValueError(f"proxy config: pool {name}={getattr(pool, name)!r} must be from 1 to 100000")
    if pool.tls:
        for b in pool.backends:
            _check(f"certificate name of backend {b.name}", b.tls_name, _TLS_NAME)
            # $upstream_addr, which picks the name to check, holds the address nginx dialled.
            _check(f"address of TLS backend {b.name}", b.address, _IPV4_PORT)
        if pool.trusted_certs and "BEGIN CERTIFICATE" not in pool.trusted_certs:
            raise ValueError("proxy config: TLS backends need their certificates to trust")
    return pool


_TLS_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_IPV4_PORT = re.compile(r"(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}:[0-9]{1,5}")


def backend_name_map(pool) -> list[tuple[str, str]]:
    """(regex on $upstream_addr, certificate name) per TLS backend: the address nginx
    dialled last (after ", " or " : " when it tried others first) picks the name."""
    return [("~(^|\\s)" + re.escape(b.address) + "$", b.tls_name) for b in pool.backends]  # re.escape keeps ":"


def main_conf(flavor: str, *, prefix: str, include: str, workers: int, user: bool = True) -> str:
    """A main nginx.conf like the image's, for running rendered files outside a container.

    The tests and the benchmark use it with the "debian" flavor: it loads the flavor's
    modules, runs workers as the flavor's user (when started as root) and includes
    ``include`` (a glob of rendered .conf files) inside ``http {}``, as the images do.
    Everything nginx writes stays under ``prefix``.
    """
    spec = FLAVORS[flavor]
    lines = [f"load_module {module};" for module in spec.load_modules]
    if user:
        lines.append(f"user {spec.worker_user} {spec.worker_group};")
    lines += [
        f"worker_processes {int(workers)};",
        f"pid {prefix}/nginx.pid;",
        f"error_log {prefix}/error.log info;",
        "events { worker_connections 1024; }",
        "http {",
        "    default_type application/octet-stream;",
        f"    client_body_temp_path {prefix}/tmp/body;",
        f"    proxy_temp_path {prefix}/tmp/proxy;",
        f"    fastcgi_temp_path {prefix}/tmp/fastcgi;",
        f"    uwsgi_temp_path {prefix}/tmp/uwsgi;",
        f"    scgi_temp_path {prefix}/tmp/scgi;",
        f"    include {include};",
        "}",
    ]
    return "\n".join(lines) + "\n"
