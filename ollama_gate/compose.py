"""Compose stack: the compose file of Ollama plus the proxy, rendered from templates/."""

from __future__ import annotations

from . import TEMPLATES
from .auth import mode_of
from .layout import COMPOSE_FILENAME as COMPOSE_FILE  # noqa: F401  (re-exported)
from .layout import layout_of
from .proxy import HTTP_PORT, container_port
from .settings import Settings, memory_bytes

# Capabilities each container gets back after `cap_drop: [ALL]` (CIS Docker Benchmark 5.3).
# nginx's master runs as root: it binds 80/443 (NET_BIND_SERVICE), makes its temp dirs
# and hands them to the workers (CHOWN), and becomes the worker user (SETUID, SETGID).
# Ollama listens on 11434 as root and writes only files root owns: it needs none.
PROXY_CAPABILITIES = ("CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID")
OLLAMA_CAPABILITIES: tuple = ()
# "auto" Ollama memory limit: this share of the host's memory.
OLLAMA_AUTO_MEMORY_SHARE = 0.9


def ollama_memory_limit(settings: Settings, host_memory_mb: int | None) -> str:
    """The Docker memory limit of the Ollama container ("auto": a share of the host's).
    "" when "auto" and the host's memory is unknown (every Linux reports MemTotal, so only
    a stubbed fact gets here): no limit rather than a guessed one."""
    if settings.ollama_memory_limit != "auto":
        return settings.ollama_memory_limit.lower()
    if not host_memory_mb:
        return ""
    return f"{int(host_memory_mb * OLLAMA_AUTO_MEMORY_SHARE)}m"


def render_compose(settings: Settings, host_memory_mb: int | None = None, gateway: bool = False) -> str:
    """compose.yml for ``settings``; ``host_memory_mb`` (the Memory fact) sizes "auto" limits.
    A ``gateway`` runs only the proxy."""
    bind = settings.proxy_bind
    published_bind = f"[{bind}]" if ":" in bind else bind
    flavor = mode_of(settings).proxy_flavor
    return TEMPLATES.get_template("compose.yml.j2").render(
        s=settings, published_bind=published_bind, container_port=container_port(settings),
        layout=layout_of(settings),
        proxy_caps=PROXY_CAPABILITIES, ollama_caps=OLLAMA_CAPABILITIES,
        proxy_tmpfs=flavor.writable_dirs, proxy_memory=settings.proxy_memory_limit.lower(),
        ollama_memory=None if gateway else ollama_memory_limit(settings, host_memory_mb),
        gateway=gateway,
        backend="backend-internal" if settings.models_source == "local" and not gateway else "backend",
        http_port=HTTP_PORT)



def container_name(settings: Settings, service: str) -> str:
    """The container of ``service`` (``layout_of(settings).proxy_container`` and friends)."""
    return layout_of(settings).container(service)


def models_volume(settings: Settings) -> str:
    """The Docker volume holding /root/.ollama, as Compose names it."""
    return f"{settings.stack_project}_ollama-models"
