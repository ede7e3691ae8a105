"""Compose stack: the compose file of Ollama plus the proxy, rendered from templates/."""

from __future__ import annotations

from . import TEMPLATES
from .proxy import AUTH_DIR, CONF_DIR, TLS_DIR, container_port
from .settings import Settings

COMPOSE_FILE = "compose.yml"


def render_compose(settings: Settings) -> str:
    bind = settings.proxy_bind
    published_bind = f"[{bind}]" if ":" in bind else bind
    return TEMPLATES.get_template("compose.yml.j2").render(
        s=settings, published_bind=published_bind, container_port=container_port(settings),
        conf_dir=CONF_DIR, auth_dir=AUTH_DIR, tls_dir=TLS_DIR)


def container_name(settings: Settings, service: str) -> str:
    return f"{settings.stack_project}-{service}"
