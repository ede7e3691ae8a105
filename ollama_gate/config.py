"""Config: settings plus credentials of every host, checked together before anything runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from . import auth
from .secrets_file import Secret, SecretsFile, credentials_for, load_secrets, secrets_path
from .settings import ConfigError, Settings, settings_from_data


@dataclass(frozen=True)
class HostConfig:
    name: str
    settings: Settings
    credentials: dict[str, Secret]


def check_hosts(hosts: Iterable[tuple[str, Mapping]], base_dir: Path,
                secrets_file: Path | None = None) -> dict[str, HostConfig]:
    """Check every host's settings and credentials; raise one ConfigError listing them all."""
    errors: list[str] = []
    settings: dict[str, Settings] = {}
    for name, data in hosts:
        try:
            settings[name] = settings_from_data(data, base_dir)
        except ConfigError as e:
            errors += [f"{name}: {err}" for err in e.errors]

    # The secrets file is shared; its problems are reported once, not per host.
    secrets: SecretsFile | None = None
    min_length = min((s.auth_password_min_length for s in settings.values()), default=20)
    try:
        secrets = load_secrets(secrets_file or secrets_path(), min_length)
    except ConfigError as e:
        errors += e.errors

    configs: dict[str, HostConfig] = {}
    if secrets is not None:
        for name, s in settings.items():
            try:
                creds = credentials_for(secrets, s.auth_mode, s.auth_credentials)
            except ConfigError as e:
                errors += [f"{name}: {err}" for err in e.errors]
                continue
            errors += [f"{name}: {err}" for err in auth.mode_of(s).credential_errors(creds, s)]
            configs[name] = HostConfig(name, s, creds)
    if errors:
        raise ConfigError(errors)
    return configs


def inventory_hosts(inventory) -> list[tuple[str, dict]]:
    """(name, merged data) for each host of a pyinfra Inventory, without connecting."""
    return [(host.name, host.data.dict()) for host in inventory]


_checked: dict[str, HostConfig] | None = None


def config_for_host(host, inventory) -> HostConfig:
    """The checked config of ``host``; the first call checks every host of the inventory,
    so one bad host stops the whole run before any operation runs anywhere."""
    global _checked
    if _checked is None:
        from pyinfra.api.exceptions import PyinfraError

        try:
            _checked = check_hosts(inventory_hosts(inventory), base_dir=Path.cwd())
        except ConfigError as e:
            raise PyinfraError(
                f"ollama-gate: {len(e.errors)} problem(s) in the settings or secrets; "
                f"no host was changed:\n{e}") from None
    return _checked[host.name]


_settings_checked: dict[str, Settings] | None = None


def settings_for_host(host, inventory) -> Settings:
    """The checked settings of ``host`` without reading the secrets file (uninstall.py needs
    no credential); like ``config_for_host``, every host is checked on the first call."""
    global _settings_checked
    if _settings_checked is None:
        from pyinfra.api.exceptions import PyinfraError

        errors: list[str] = []
        checked: dict[str, Settings] = {}
        for name, data in inventory_hosts(inventory):
            try:
                checked[name] = settings_from_data(data, Path.cwd())
            except ConfigError as e:
                errors += [f"{name}: {err}" for err in e.errors]
        if errors:
            raise PyinfraError(f"ollama-gate: {len(errors)} problem(s) in the settings; no host was changed:\n"
                               + str(ConfigError(errors)))
        _settings_checked = checked
    return _settings_checked[host.name]
