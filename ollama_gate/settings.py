"""Settings: the typed view of one host's data, checked before any host is touched."""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import re
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from . import PROJECT_DIR, auth
from .credentials import HASHERS
from .image_names import image_ref_error
from .images import archive_path
from .model_names import model_name_error

AUTH_MODES = auth.MODE_NAMES
HTPASSWD_SCHEMES = tuple(HASHERS)
TLS_MODES = ("off", "self-signed", "provided", "acme")
IMAGE_SOURCES = ("registry", "archive")
DOCKER_INSTALL_METHODS = ("official", "distro", "none")
MODEL_SOURCES = ("registry", "local")
# Prefixes of this project's settings: a host data key with one of these prefixes that
# is not a known setting is a typo, reported with the closest known name.
CONCERN_PREFIXES = ("auth_", "proxy_", "images_", "docker_", "stack_", "ollama_", "models_", "verify_",
                    "uninstall_", "gateway_")


# The one place every default is written: pyinfra's group data for all hosts.
DEFAULTS_FILE = PROJECT_DIR / "group_data" / "all.py"


def _read_defaults() -> dict[str, Any]:
    names = runpy.run_path(str(DEFAULTS_FILE))
    return {k: v for k, v in names.items() if not k.startswith("_") and not isinstance(v, ModuleType)}


DEFAULTS: dict[str, Any] = _read_defaults()


def _default(name: str):
    """The dataclass default of setting ``name`` (lists become tuples, dicts a fresh copy)."""
    value = DEFAULTS[name]
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return field(default_factory=lambda: dict(value))
    return value


class ConfigError(Exception):
    """Settings or secrets that must not reach a host; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]):
        self.errors = list(dict.fromkeys(errors))  # one problem found twice is said once
        super().__init__("\n".join(f"  - {e}" for e in self.errors))


@dataclass(frozen=True)
class Settings:
    """One host's settings. Every default is read from group_data/all.py, the one place
    defaults are written (tests/unit/test_settings_defaults.py holds the README to it)."""

    auth_mode: str = _default("auth_mode")
    auth_credentials: tuple = _default("auth_credentials")
    auth_realm: str = _default("auth_realm")
    auth_htpasswd_scheme: str = _default("auth_htpasswd_scheme")
    auth_password_min_length: int = _default("auth_password_min_length")
    auth_fail_limit: int = _default("auth_fail_limit")

    proxy_bind: str = _default("proxy_bind")
    proxy_port: int = _default("proxy_port")
    proxy_max_body: str = _default("proxy_max_body")
    proxy_read_timeout: int = _default("proxy_read_timeout")
    proxy_tls: str = _default("proxy_tls")
    proxy_tls_cert: str = _default("proxy_tls_cert")
    proxy_tls_key: str = _default("proxy_tls_key")
    proxy_hsts: bool = _default("proxy_hsts")
    proxy_public_url: str = _default("proxy_public_url")
    proxy_memory_limit: str = _default("proxy_memory_limit")
    proxy_pids_limit: int = _default("proxy_pids_limit")
    proxy_http_port: int = _default("proxy_http_port")
    proxy_acme_directory: str = _default("proxy_acme_directory")
    proxy_acme_email: str = _default("proxy_acme_email")
    proxy_acme_names: tuple = _default("proxy_acme_names")
    proxy_acme_ca_cert: str = _default("proxy_acme_ca_cert")

    images_ollama: str = _default("images_ollama")
    images_nginx: str = _default("images_nginx")
    images_openresty: str = _default("images_openresty")
    images_source: str = _default("images_source")
    images_archive_dir: str = _default("images_archive_dir")

    docker_install_method: str = _default("docker_install_method")
    docker_users: tuple = _default("docker_users")
    docker_daemon_options: dict = _default("docker_daemon_options")

    stack_dir: str = _default("stack_dir")
    stack_project: str = _default("stack_project")
    ollama_gpu: bool = _default("ollama_gpu")
    ollama_memory_limit: str = _default("ollama_memory_limit")
    ollama_pids_limit: int = _default("ollama_pids_limit")
    ollama_environment: dict = _default("ollama_environment")

    models: tuple = _default("models")
    models_prune: bool = _default("models_prune")
    models_source: str = _default("models_source")
    models_local_path: str = _default("models_local_path")

    verify_enabled: bool = _default("verify_enabled")
    verify_generate: bool = _default("verify_generate")
    verify_report: str = _default("verify_report")

    uninstall_models: bool = _default("uninstall_models")
    uninstall_images: bool = _default("uninstall_images")
    gateway_backends: tuple = _default("gateway_backends")
    gateway_weight: int = _default("gateway_weight")
    gateway_max_fails: int = _default("gateway_max_fails")
    gateway_fail_timeout: int = _default("gateway_fail_timeout")
    gateway_connect_timeout: int = _default("gateway_connect_timeout")
    gateway_service_credential: str = _default("gateway_service_credential")
    gateway_backend_address: str = _default("gateway_backend_address")
    gateway_backend_ca: str = _default("gateway_backend_ca")
    gateway_accept_clients: bool = _default("gateway_accept_clients")

    @property
    def proxy_image(self) -> str:
        """The proxy image of the auth mode (the setting its ``AuthMode.image_setting`` names)."""
        return auth.mode_of(self).image(self)

    @property
    def images(self) -> tuple[str, str]:
        """The image references this host's stack runs."""
        return (self.images_ollama, self.proxy_image)


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(Settings))
_DEFAULTS = Settings()


# --- Checks of single values ---------------------------------------------------------
# Each returns an error text (without the setting's name) or None.

def _is_str(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__} {value!r}"
    return None


def _is_bool(value: Any) -> str | None:
    if not isinstance(value, bool):
        return f"must be True or False, got {type(value).__name__} {value!r}"
    return None


def _int_in(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be a whole number from {low} to {high}, got {type(value).__name__} {value!r}"
    if not low <= value <= high:
        return f"must be from {low} to {high}, got {value}"
    return None


def _one_of(value: Any, choices: tuple[str, ...]) -> str | None:
    if value not in choices:
        return f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
    return None


def _size_error(value: Any) -> str | None:
    if (err := _is_str(value)) is not None:
        return err
    if not re.fullmatch(r"[0-9]+[kKmMgG]?", value):
        return f"{value!r} is not an nginx size (like 32m, 512k or 1g)"
    if int(value.rstrip("kKmMgG")) == 0:
        return "0 would mean no limit at all in nginx; give a size like 32m"
    return None


_MEMORY_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def memory_bytes(value: str) -> int:
    """Bytes of a Docker memory size ("256m", "8g")."""
    return int(value[:-1]) * _MEMORY_UNITS[value[-1].lower()]


def _memory_error(value: Any, minimum: str, auto: bool = False) -> str | None:
    if (err := _is_str(value)) is not None:
        return err
    if auto and value == "auto":
        return None
    if not re.fullmatch(r"[0-9]{1,9}[kKmMgG]", value):
        return f"{value!r} is not a Docker memory size like {minimum} or 8g" + (" (or 'auto')" if auto else "")
    if memory_bytes(value) < memory_bytes(minimum):
        return f"{value!r} is below {minimum}, too little for the container to start"
    return None


def _bind_error(value: Any) -> str | None:
    if (err := _is_str(value)) is not None:
        return err
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"{value!r} is not an IP address (0.0.0.0 for every address, 127.0.0.1 for local only)"
    return None


def _name_list_error(value: Any, what: str) -> str | None:
    if not isinstance(value, (list, tuple)):
        return f"must be a list of {what}, got {type(value).__name__} {value!r}"
    for item in value:
        if not isinstance(item, str) or not item:
            return f"must be a list of {what}, got item {item!r}"
    if len(set(value)) != len(value):
        return "lists a name twice"
    return None


def _abs_dir_error(value: Any) -> str | None:
    if (err := _is_str(value)) is not None:
        return err
    if not value.startswith("/") or value.rstrip("/") == "" or not re.fullmatch(r"[A-Za-z0-9_./-]+", value):
        return f"{value!r} must be an absolute directory path other than / (letters, digits, . _ - /)"
    if "/../" in value + "/" or "/./" in value + "/":
        return f"{value!r} must not contain . or .. components"
    return None


def _environment_error(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be a dict of environment variables, got {type(value).__name__}"
    for key, item in value.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,63}", key):
            return f"{key!r} is not an environment variable name (A-Z, 0-9, _)"
        if isinstance(item, bool) or not isinstance(item, (str, int)) \
                or not re.fullmatch(r"[^\x00-\x1f\x7f\"\\$]{0,1024}", str(item)):
            return (f"the value of {key} must be a number or one line of text without quotes, "
                    "backslashes or $ (Compose would read those)")
    return None


def _dns_name(value: str) -> bool:
    """A name an ACME CA validates over HTTP-01: at least two labels, no address."""
    try:
        ipaddress.ip_address(value)
        return False
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    return len(labels) >= 2 and len(value) <= 253 and all(
        re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label) for label in labels)


def public_host(settings_or_url) -> str:
    """The host of proxy_public_url ("" when it is not set), without brackets or port."""
    url = getattr(settings_or_url, "proxy_public_url", settings_or_url) or ""
    rest = url.split("://", 1)[-1].rstrip("/")
    if rest.startswith("["):
        return rest[1:rest.index("]")]
    return rest.split(":", 1)[0]


def public_port(settings) -> int:
    """The port clients reach the proxy on: proxy_public_url's, else proxy_port."""
    url = settings.proxy_public_url
    if url:
        # After the last ":" only a port is all digits (an IPv6 literal ends in "]").
        _, _, port = url.split("://", 1)[1].rstrip("/").rpartition(":")
        if port.isdigit():
            return int(port)
        return 443 if url.startswith("https") else 80
    return settings.proxy_port


def acme_names(settings) -> tuple:
    """The names on an ACME certificate: proxy_acme_names, else the host of proxy_public_url."""
    return tuple(settings.proxy_acme_names) or ((public_host(settings),) if public_host(settings) else ())


def _daemon_options_error(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be a dict (written as /etc/docker/daemon.json), got {type(value).__name__}"
    try:
        json.dumps(value)
    except (TypeError, ValueError) as e:
        return f"cannot be written as JSON: {e}"
    return None


_CHECKS = {
    "auth_mode": lambda v: _one_of(v, AUTH_MODES),
    "auth_credentials": lambda v: _name_list_error(v, "credential names from the secrets file"),
    "auth_realm": lambda v: _is_str(v) or (
        f"{v!r} would switch authentication off (nginx reads auth_basic \"off\" as no auth)"
        if v.strip().lower() == "off" else None if re.fullmatch(r"[A-Za-z0-9 ._-]{1,64}", v)
        else f"{v!r} must be 1-64 letters, digits, spaces or . _ -"),
    "auth_htpasswd_scheme": lambda v: _one_of(v, HTPASSWD_SCHEMES),
    "auth_password_min_length": lambda v: _int_in(v, 12, 1024),
    "auth_fail_limit": lambda v: _int_in(v, 1, 100000),
    "proxy_bind": _bind_error,
    "proxy_port": lambda v: _int_in(v, 1, 65535),
    "proxy_max_body": _size_error,
    "proxy_read_timeout": lambda v: _int_in(v, 1, 86400),
    "proxy_tls": lambda v: _one_of(v, TLS_MODES),
    "proxy_tls_cert": _is_str,
    "proxy_tls_key": _is_str,
    "proxy_hsts": _is_bool,
    "proxy_memory_limit": lambda v: _memory_error(v, "32m"),
    "proxy_pids_limit": lambda v: _int_in(v, 32, 1_000_000),
    "ollama_memory_limit": lambda v: _memory_error(v, "512m", auto=True),
    "ollama_pids_limit": lambda v: _int_in(v, 64, 1_000_000),
    "proxy_public_url": lambda v: _is_str(v) or (
        None if v == "" or re.fullmatch(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/?", v)
        else f"{v!r} must be empty or a URL like https://gpu1.example.com:8880"),
    "proxy_http_port": lambda v: _int_in(v, 1, 65535),
    "proxy_acme_directory": lambda v: _is_str(v) or (
        None if re.fullmatch(r"https://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", v)
        else f"{v!r} must be the https:// URL of an ACME directory"),
    "proxy_acme_email": lambda v: _is_str(v) or (
        None if v == "" or re.fullmatch(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", v)
        else f"{v!r} is not an e-mail address"),
    "proxy_acme_names": lambda v: _name_list_error(v, "DNS names") or next(
        (f"{n!r} is not a DNS name the CA can validate over HTTP-01 (no IP addresses, no wildcards)"
         for n in v if not _dns_name(n)), None),
    "proxy_acme_ca_cert": _is_str,
    "images_ollama": image_ref_error,
    "images_nginx": image_ref_error,
    "images_openresty": image_ref_error,
    "images_source": lambda v: _one_of(v, IMAGE_SOURCES),
    "images_archive_dir": _is_str,
    "docker_install_method": lambda v: _one_of(v, DOCKER_INSTALL_METHODS),
    "docker_users": lambda v: _name_list_error(v, "user names"),
    "docker_daemon_options": _daemon_options_error,
    "stack_dir": _abs_dir_error,
    "stack_project": lambda v: _is_str(v) or (None if re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", v)
                                            else f"{v!r} must be a Compose project name (a-z 0-9 _ -)"),
    "ollama_gpu": _is_bool,
    "models": lambda v: _name_list_error(v, "model names") or next(
        (e for e in map(model_name_error, v) if e is not None), None),
    "models_prune": _is_bool,
    "models_source": lambda v: _one_of(v, MODEL_SOURCES),
    "models_local_path": _is_str,
    "verify_enabled": _is_bool,
    "verify_generate": _is_bool,
    "verify_report": _is_str,
    "uninstall_models": _is_bool,
    "uninstall_images": _is_bool,
    "ollama_environment": lambda v: _environment_error(v),
    "gateway_backends": lambda v: _name_list_error(v, "inventory group or host names"),
    "gateway_weight": lambda v: _int_in(v, 1, 1000),
    "gateway_max_fails": lambda v: _int_in(v, 1, 1000),
    "gateway_fail_timeout": lambda v: _int_in(v, 1, 3600),
    "gateway_connect_timeout": lambda v: _int_in(v, 1, 300),
    "gateway_service_credential": lambda v: _is_str(v) or (
        None if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", v)
        else f"{v!r} must be a credential name (letters, digits, . _ @ -)"),
    "gateway_backend_address": lambda v: _is_str(v) or (
        None if v == "" or re.fullmatch(r"[A-Za-z0-9.-]{1,253}|\[[0-9a-fA-F:]+\]", v)
        else f"{v!r} must be empty, a host name or an IP address"),
    "gateway_backend_ca": _is_str,
    "gateway_accept_clients": _is_bool,
}
assert set(_CHECKS) == set(SETTING_NAMES), set(_CHECKS) ^ set(SETTING_NAMES)


def setting_error(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be setting ``name`` (the check settings_from_data makes), or None."""
    return _CHECKS[name](value)


def _pyinfra_key(key: str) -> bool:
    # pyinfra's docker connector reads docker_identifier etc.: not a typo of ours.
    from .inventory_checks import is_pyinfra_key
    return is_pyinfra_key(key)


def _unknown_settings(data: Mapping[str, Any]) -> list[str]:
    errors = []
    for key in data:
        if key.startswith(CONCERN_PREFIXES) and key not in SETTING_NAMES and not _pyinfra_key(key):
            close = difflib.get_close_matches(key, SETTING_NAMES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            errors.append(f"{key}: not an ollama-gate setting{hint}")
    return errors


def _coerce(name: str, value: Any) -> Any:
    """Values given on pyinfra's command line (--data proxy_port=9000) arrive as strings."""
    default = getattr(_DEFAULTS, name)
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, str) \
            and re.fullmatch(r"[0-9]{1,6}", value):
        return int(value)
    return value


def settings_from_data(data: Mapping[str, Any], base_dir: Path | None = None) -> Settings:
    """Build and check the Settings of one host from its pyinfra data.

    ``data`` is the merged host data (host beats group beats all). Raises ConfigError
    with every problem found; relative local paths resolve against ``base_dir``.
    """
    errors = _unknown_settings(data)
    values: dict[str, Any] = {}
    for name in SETTING_NAMES:
        value = _coerce(name, data.get(name, getattr(_DEFAULTS, name)))
        err = _CHECKS[name](value)
        if err is not None:
            errors.append(f"{name}: {err}")
        values[name] = tuple(value) if isinstance(value, list) else value

    if not errors:
        errors += _cross_checks(values, base_dir or Path.cwd())
    if errors:
        raise ConfigError(errors)
    return Settings(**values)


def _local_path(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _cross_checks(v: dict[str, Any], base_dir: Path) -> list[str]:
    errors = []
    if v["verify_generate"] and v["verify_enabled"] and not v["models"]:
        errors.append("verify_generate: is on but models is empty; list a model or set verify_generate = False")
    if v["models_source"] == "local":
        errors += _local_models_errors(v["models"], v["models_local_path"], base_dir)
    if v["proxy_tls"] == "provided":
        missing = []
        for name in ("proxy_tls_cert", "proxy_tls_key"):
            if not v[name]:
                errors.append(f"{name}: proxy_tls is 'provided', so give the local path of the PEM file")
                missing.append(name)
            elif not _local_path(v[name], base_dir).is_file():
                errors.append(f"{name}: no such local file {str(_local_path(v[name], base_dir))!r}")
                missing.append(name)
        if not missing:
            # Imported here: cryptography's x509 costs every run ~50 ms, and only this mode needs it.
            from . import provided_tls

            errors += provided_tls.check(_local_path(v["proxy_tls_cert"], base_dir),
                                         _local_path(v["proxy_tls_key"], base_dir))
    if v["proxy_tls"] == "acme":
        names = v["proxy_acme_names"] or ((public_host(v["proxy_public_url"]),) if v["proxy_public_url"] else ())
        if not names:
            errors.append("proxy_acme_names: proxy_tls is 'acme' but neither proxy_acme_names nor "
                          "proxy_public_url names the host the certificate is for")
        elif not v["proxy_acme_names"] and not _dns_name(names[0]):
            errors.append(f"proxy_public_url: proxy_tls is 'acme' but its host {names[0]!r} is not a DNS name "
                          "an ACME CA can validate; set proxy_acme_names or use a name in proxy_public_url")
        if v["proxy_http_port"] == v["proxy_port"]:
            errors.append(f"proxy_http_port: {v['proxy_http_port']} is also proxy_port; the ACME challenge "
                          "listener needs its own port (80 as the CA sees it)")
        if v["proxy_acme_ca_cert"] and not _local_path(v["proxy_acme_ca_cert"], base_dir).is_file():
            errors.append(f"proxy_acme_ca_cert: no such local file "
                          f"{str(_local_path(v['proxy_acme_ca_cert'], base_dir))!r}")
    if v["gateway_backend_ca"] and not _local_path(v["gateway_backend_ca"], base_dir).is_file():
        errors.append(f"gateway_backend_ca: no such local file {str(_local_path(v['gateway_backend_ca'], base_dir))!r}")
    if v["images_source"] == "archive":
        active = (v["images_ollama"], v[auth.mode(v["auth_mode"]).image_setting])
        for ref in active:
            path = archive_path(v["images_archive_dir"], ref, str(base_dir))
            if not Path(path).is_file():
                errors.append(f"images_archive_dir: images_source is 'archive' but {path!r} "
                              f"(docker save {ref}) does not exist")
    return errors


def resolve_local_path(value: str, base_dir: Path) -> Path:
    """Where a local path setting (archive dir, TLS files) points on this machine."""
    return _local_path(value, base_dir)



def _local_models_errors(models, path_value: str, base_dir: Path) -> list[str]:
    """models_source "local": the path holds every listed model (manifest and blobs)."""
    from .model_store import ModelStoreError, open_store

    if not path_value:
        return ["models_local_path: models_source is 'local', so give the local path of an Ollama "
                "models directory (manifests/ and blobs/) or of an archive of one (make models-archive)"]
    try:
        store = open_store(_local_path(path_value, base_dir))
        missing = store.missing(models)
    except ModelStoreError as e:
        return [f"models_local_path: {e}"]
    return [f"models_local_path: {store.where} lacks {name!r} ({why})" for name, why in missing]
