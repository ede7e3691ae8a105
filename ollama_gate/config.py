"""Config: settings plus credentials of every host, checked together before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from . import auth
from .gateway import Backend, Fleet, Pool, backend_address, plan_fleet
from .secrets_file import Secret, SecretsFile, credentials_for, ensure_installation_key, load_secrets, secrets_path
from .secrets_file import add as add_secret
from .settings import ConfigError, Settings, settings_from_data


@dataclass(frozen=True)
class HostConfig:
    """One host's checked config.

    + role: "endpoint" (Ollama + proxy), "gateway" (only the proxy, in front of backends)
      or "backend" (an endpoint a gateway sends its clients' requests to)
    + gateway: for a gateway, its pool, service credential and backends' configs
    """

    name: str
    settings: Settings
    credentials: dict[str, Secret]
    role: str = "endpoint"
    gateway: GatewaySide | None = None
    # The secrets file's installation key (bytes): .htpasswd salts are HMACs under it.
    installation_key: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class GatewaySide:
    """What a gateway knows of its backends.

    + pool: the upstream pool its proxy balances over
    + service: the Authorization header it sends them (a Secret named after the credential)
    + backends: each backend's checked config, in pool order
    """

    pool: Pool
    service: Secret
    backends: tuple


def check_hosts(hosts: Iterable[tuple[str, Mapping]], base_dir: Path,
                secrets_file: Path | None = None,
                groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, HostConfig]:
    """Check every host's settings and credentials; raise one ConfigError listing them all.

    ``groups`` (host name -> its inventory groups) gives hosts their role: a host in the
    group "gateway" is a gateway; the hosts its gateway_backends name are its backends. A
    gateway's service credential is made in the secrets file when missing (the one write
    this check does), and backends take their gateway's model list.
    """
    errors: list[str] = []
    settings: dict[str, Settings] = {}
    data_of: dict[str, Mapping] = {}
    for name, data in hosts:
        data_of[name] = data
        try:
            settings[name] = settings_from_data(data, base_dir)
        except ConfigError as e:
            errors += [f"{name}: {err}" for err in e.errors]

    fleet, fleet_errors = plan_fleet(settings, groups or {})
    errors += fleet_errors
    path = secrets_file or secrets_path()
    if not errors:
        errors += ensure_service_credentials(fleet, settings, path)
    if fleet_errors or errors and fleet.pools:
        raise ConfigError(errors)
    if not errors and path.is_file() and any(auth.mode_of(s).needs_installation_key for s in settings.values()):
        # The second write this check may do: one appended line, made once per installation.
        try:
            ensure_installation_key(path)
        except ConfigError as e:
            errors += e.errors

    # The secrets file is shared; its problems are reported once, not per host.
    secrets: SecretsFile | None = None
    min_length = min((s.auth_password_min_length for s in settings.values()), default=20)
    try:
        secrets = load_secrets(path, min_length)
    except ConfigError as e:
        errors += e.errors

    configs: dict[str, HostConfig] = {}
    if secrets is not None:
        # Service credentials are for backends only: "every entry of the section" of any
        # other host leaves them out.
        services = {settings[gw].gateway_service_credential for gw in fleet.pools}
        for name, s in settings.items():
            role = fleet.role(name)
            if role == "backend":
                s = replace(s, models=settings[fleet.gateway_of[name]].models)
            try:
                creds = _accepted(secrets, s, role, services,
                                  settings[fleet.gateway_of[name]] if role == "backend" else None)
            except ConfigError as e:
                errors += [f"{name}: {err}" for err in e.errors]
                continue
            errors += [f"{name}: {err}" for err in auth.mode_of(s).credential_errors(creds, s)]
            key = bytes.fromhex(secrets.installation_key.reveal()) if secrets.installation_key else b""
            configs[name] = HostConfig(name, s, creds, role, installation_key=key)
        for gw, members in fleet.pools.items():
            if gw in configs and all(m in configs for m in members):
                configs[gw] = _with_pool(configs[gw], [configs[m] for m in members], data_of, secrets)
    if errors:
        raise ConfigError(errors)
    return configs


def _accepted(secrets: SecretsFile, s: Settings, role: str, services: set[str],
              gateway: Settings | None) -> dict[str, Secret]:
    """The credentials a host accepts: a backend its gateway's service credential (and its
    own clients with gateway_accept_clients); any host its clients, never a service
    credential unless named in auth_credentials."""
    mode = auth.mode_of(s)
    creds: dict[str, Secret] = {}
    if role != "backend" or s.gateway_accept_clients:
        if s.auth_credentials:
            creds = credentials_for(secrets, s.auth_mode, s.auth_credentials)
        else:
            creds = {n: v for n, v in credentials_for(secrets, s.auth_mode, ()).items() if n not in services}
            if not creds:
                raise ConfigError([f"auth_mode: '{s.auth_mode}' needs at least one client entry under "
                                   f"'{mode.section}:' in {str(secrets.path)!r} (service credentials "
                                   "of gateways do not count)"])
    if role == "backend":
        service = gateway.gateway_service_credential
        creds[service] = secrets.section(s.auth_mode)[service]
    return dict(sorted(creds.items()))


def ensure_service_credentials(fleet: Fleet, settings: Mapping[str, Settings], path: Path) -> list[str]:
    """Make each gateway's service credential in the secrets file when it is missing, in
    the section of its backends' auth mode (the secrets CLI's own ``add``)."""
    errors = []
    for gw, members in fleet.pools.items():
        name = settings[gw].gateway_service_credential
        section = auth.mode_of(settings[members[0]]).section
        try:
            current = load_secrets(path, min(s.auth_password_min_length for s in settings.values()))
        except ConfigError:
            return []  # reported by the check that follows
        where = next((m.section for m in auth.MODES.values() if name in current.section(m.name)), None)
        if where == section:
            continue
        if where is not None:
            errors.append(f"{gw}: gateway_service_credential: {name!r} is under '{where}:' in {str(path)!r} "
                          f"but its backends use '{section}:'; remove it or choose another name")
            continue
        add_secret(path, section, name)
    return errors


def _with_pool(gateway: HostConfig, backends: list[HostConfig], data_of: Mapping[str, Mapping],
               secrets: SecretsFile) -> HostConfig:
    s = gateway.settings
    first = backends[0].settings
    service_name = s.gateway_service_credential
    value = secrets.section(first.auth_mode)[service_name].reveal()
    service = Secret(service_name, auth.mode_of(first).authorization(service_name, value))
    pool = Pool(
        backends=tuple(Backend(b.name, backend_address(b.name, b.settings, data_of[b.name]),
                               b.settings.gateway_weight) for b in backends),
        max_fails=s.gateway_max_fails, fail_timeout=s.gateway_fail_timeout,
        connect_timeout=s.gateway_connect_timeout,
    )
    return replace(gateway, role="gateway", gateway=GatewaySide(pool, service, tuple(backends)))


def inventory_hosts(inventory) -> list[tuple[str, dict]]:
    """(name, merged data) for each host of a pyinfra Inventory, without connecting."""
    return [(host.name, host.data.dict()) for host in inventory]


def inventory_groups(inventory) -> dict[str, list[str]]:
    """host name -> the inventory groups it is in (roles, the pyinfra way)."""
    return {host.name: list(host.groups or ()) for host in inventory}


_checked: dict[str, HostConfig] | None = None


def config_for_host(host, inventory) -> HostConfig:
    """The checked config of ``host``; the first call checks every host of the inventory,
    so one bad host stops the whole run before any operation runs anywhere."""
    global _checked
    if _checked is None:
        from pyinfra.api.exceptions import PyinfraError

        try:
            _checked = check_hosts(inventory_hosts(inventory), base_dir=Path.cwd(),
                                   groups=inventory_groups(inventory))
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
