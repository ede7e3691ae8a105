"""Config: settings plus credentials of every host, checked together before anything runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from . import auth, outcomes
from .checks import report_path_error
from .gateway import Backend, Fleet, Pool, backend_address, plan_fleet, tls_address_error, tls_name, trust_paths
from .inventory_checks import group_conflicts, unknown_data_keys
from .secrets_file import (EXPIRY_WARNING, SECTIONS, UTC, Secret, SecretsFile, assign, ensure_installation_key,
                           expiry_text, load_secrets, secrets_path)
from .secrets_file import add as add_secret
from .settings import ConfigError, Settings, settings_from_data


@dataclass(frozen=True)
class HostConfig:
    """One host's checked config.

    + role: "endpoint" (Ollama + proxy), "gateway" (only the proxy, in front of backends)
      or "backend" (an endpoint a gateway sends its clients' requests to)
    + gateway: for a gateway, its pool, service credential and backends' configs
    + gateway_name, service_credential: for a backend, its gateway's inventory name and
      the name of that gateway's service credential (one of ``credentials``)
    """

    name: str
    settings: Settings
    credentials: dict[str, Secret]
    role: str = "endpoint"
    gateway: GatewaySide | None = None
    # Names auth_credentials lists that are retired or expired: left out, proved refused.
    revoked: tuple[str, ...] = ()
    # Every value that must get 401 (retired and expired ones); None: read the secrets file.
    refused: tuple[Secret, ...] | None = field(default=None, repr=False)
    # The secrets file's installation key (bytes): .htpasswd salts are HMACs under it.
    installation_key: bytes = field(default=b"", repr=False)
    gateway_name: str = ""
    service_credential: str = ""


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


@dataclass(frozen=True)
class Checked:
    """The whole inventory checked: per-host configs, the access matrix and its warnings."""

    configs: dict[str, HostConfig]
    matrix: list[str]
    warnings: list[str]


def check_hosts(hosts: Iterable[tuple[str, Mapping]], base_dir: Path,
                secrets_file: Path | None = None,
                groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, HostConfig]:
    """``check_inventory`` without the matrix: host name -> HostConfig."""
    return check_inventory(hosts, base_dir, secrets_file, groups).configs


def check_inventory(hosts: Iterable[tuple[str, Mapping]], base_dir: Path,
                    secrets_file: Path | None = None,
                    groups: Mapping[str, Sequence[str]] | None = None,
                    now: dt.datetime | None = None) -> Checked:
    """Check every host's settings and credentials; raise one ConfigError listing them all.

    ``groups`` (host name -> its inventory groups) gives hosts their role: a host in the
    group "gateway" is a gateway; the hosts its gateway_backends name are its backends. A
    gateway's service credential is made in the secrets file when missing (the one write
    this check does), and backends take their gateway's model list. Credentials whose
    expiry is not after ``now`` count as expired.
    """
    now = now or dt.datetime.now(UTC)
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
        secrets = load_secrets(path, min_length, now=now)
    except ConfigError as e:
        errors += e.errors

    configs: dict[str, HostConfig] = {}
    if secrets is not None:
        # Service credentials are for backends only: "every entry of the section" of any
        # other host leaves them out.
        services = {settings[gw].gateway_service_credential for gw in fleet.pools}
        refused = tuple(secrets.refused())
        for name, s in settings.items():
            role = fleet.role(name)
            if role == "backend":
                s = replace(s, models=settings[fleet.gateway_of[name]].models)
            try:
                creds, revoked = _accepted(secrets, s, role, services,
                                           settings[fleet.gateway_of[name]] if role == "backend" else None)
            except ConfigError as e:
                errors += [f"{name}: {err}" for err in e.errors]
                continue
            errors += [f"{name}: {err}" for err in auth.mode_of(s).credential_errors(creds, s)]
            key = _installation_key(secrets)
            backend_of = ((fleet.gateway_of[name], settings[fleet.gateway_of[name]].gateway_service_credential)
                          if role == "backend" else ("", ""))
            configs[name] = HostConfig(name, s, creds, role, revoked=revoked,
                                       refused=service_refused(refused, backend_of[1], auth.mode_of(s), key),
                                       installation_key=key, gateway_name=backend_of[0],
                                       service_credential=backend_of[1])
        for gw, members in fleet.pools.items():
            if gw in configs and all(m in configs for m in members):
                configs[gw], pool_errors = _with_pool(configs[gw], [configs[m] for m in members], data_of,
                                                      secrets, base_dir)
                errors += pool_errors
    for name, s in settings.items():
        if (err := report_path_error(s)) is not None:
            errors.append(f"{name}: {err}")
    if errors:
        raise ConfigError(errors)
    assert secrets is not None
    matrix, warnings = access(configs, secrets, now)
    return Checked(configs, matrix, warnings)


def _accepted(secrets: SecretsFile, s: Settings, role: str, services: set[str],
              gateway: Settings | None) -> tuple[dict[str, Secret], tuple[str, ...]]:
    """The credentials a host accepts, and the names it lists that are revoked (retired or
    expired): a backend its gateway's service credential (and its own clients with
    gateway_accept_clients); any host its clients, never a service credential unless named
    in auth_credentials."""
    mode = auth.mode_of(s)
    creds: dict[str, Secret] = {}
    revoked: tuple[str, ...] = ()
    if role != "backend" or s.gateway_accept_clients:
        if s.auth_credentials:
            assigned = assign(secrets, s.auth_mode, s.auth_credentials)
            creds, revoked = assigned.credentials, assigned.revoked
        else:
            assigned = assign(secrets, s.auth_mode, ())
            creds = {n: v for n, v in assigned.credentials.items() if n not in services}
            revoked = tuple(n for n in assigned.revoked if n not in services)
            if not creds and not revoked:
                raise ConfigError([f"auth_mode: '{s.auth_mode}' needs at least one client entry under "
                                   f"'{mode.section}:' in {str(secrets.path)!r} (service credentials "
                                   "of gateways do not count)"])
    if role == "backend":
        # Under the name the gateway presents it by (basic: one per value, see
        # AuthMode.service_name).
        current = secrets.section(s.auth_mode)[gateway.gateway_service_credential]
        wire = mode.service_name(current.name, current.reveal(), _installation_key(secrets))
        creds[wire] = Secret(wire, current.reveal(), current.expires)
    return dict(sorted(creds.items())), revoked


def _installation_key(secrets: SecretsFile) -> bytes:
    return bytes.fromhex(secrets.installation_key.reveal()) if secrets.installation_key else b""


def service_refused(refused: Sequence[Secret], service: str, mode, key: bytes) -> tuple[Secret, ...]:
    """A host's values that must get 401: ``refused``, and on a backend (``service``: its
    gateway's service credential; "" on any other host) each retired value of that
    credential also under the name the gateway presented it by."""
    extra = []
    for old in refused:
        if old.name == service:
            wire = mode.service_name(service, old.reveal(), key)
            if wire != service:
                extra.append(Secret(wire, old.reveal(), old.expires))
    return (*refused, *extra)


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
               secrets: SecretsFile, base_dir: Path) -> tuple[HostConfig, list[str]]:
    """The gateway's config with its pool, and the problems of its TLS backends (a backend
    whose certificate name or address the gateway cannot check)."""
    s = gateway.settings
    first = backends[0].settings
    service_name = s.gateway_service_credential
    value = secrets.section(first.auth_mode)[service_name].reveal()
    mode = auth.mode_of(first)
    wire = mode.service_name(service_name, value, _installation_key(secrets))
    service = Secret(service_name, mode.authorization(wire, value))
    tls = first.proxy_tls != "off"  # plan_fleet: all backends of a gateway or none
    errors: list[str] = []
    members = []
    for b in backends:
        address = backend_address(b.name, b.settings, data_of[b.name])
        name, trust = "", ()
        if tls:
            name, why = tls_name(b.name, b.settings)
            problems = [why, tls_address_error(b.name, address)]
            errors += [f"{gateway.name}: {p}" for p in problems if p]
            trust = trust_paths(b.name, b.settings, base_dir)
        members.append(Backend(b.name, address, b.settings.gateway_weight, tls_name=name, trust=trust))
    pool = Pool(
        backends=tuple(members), max_fails=s.gateway_max_fails, fail_timeout=s.gateway_fail_timeout,
        connect_timeout=s.gateway_connect_timeout, tls=tls,
    )
    return replace(gateway, gateway=GatewaySide(pool, service, tuple(backends))), errors  # role: fleet.role


def access(configs: Mapping[str, HostConfig], secrets: SecretsFile, now: dt.datetime) -> tuple[list[str], list[str]]:
    """The access matrix (credential names x hosts, from the inventory and the secrets
    file alone) and the warnings it gives: names assigned to no host, hosts with no valid
    credential, revoked names still listed, expired and soon expiring credentials."""
    hosts = list(configs)
    rows: list[tuple[str, str, str, list[str]]] = []
    warnings: list[str] = []
    listed: dict[str, list[str]] = {}
    for host, cfg in configs.items():
        for n in cfg.settings.auth_credentials:
            listed.setdefault(n, []).append(host)

    def cells(name: str, section: str) -> list[str]:
        out = []
        for cfg in configs.values():
            if SECTIONS[cfg.settings.auth_mode] != section:
                out.append("-")
            elif name in cfg.credentials or name == cfg.service_credential:
                out.append("yes")
            elif name in cfg.revoked:
                out.append("revoked")
            else:
                out.append("-")
        return out

    for section in SECTIONS.values():
        current = secrets.in_section(section)
        expired = secrets.expired.get(section, {})
        for name in sorted({*current, *expired}):
            secret = current.get(name) or expired[name]
            row = cells(name, section)
            if name in expired:
                state = f"expired {expiry_text(secret.expires)}"
                still = listed.get(name, [])
                warnings.append(f"{name!r} ({section}:) expired on {expiry_text(secret.expires)}: not deployed, "
                                f"proved to get 401" + (f"; still listed in auth_credentials of {', '.join(still)}"
                                                        if still else "")
                                + f"; rotate it with 'ollama-gate rotate {name} --expires 30d' or remove it")
            else:
                state = expiry_text(secret.expires) if secret.expires else "-"
                if "yes" not in row:
                    warnings.append(f"{name!r} ({section}:) is assigned to no host: add it to auth_credentials of "
                                    f"a host with auth_mode {auth.by_section(section).name} (or leave that list "
                                    "empty for all)")
                if secret.expires and secret.expires - now <= EXPIRY_WARNING:
                    days = (secret.expires - now).total_seconds() / 86400
                    warnings.append(f"{name!r} ({section}:) expires {expiry_text(secret.expires)} (in {days:.1f} "
                                    f"days); then it gets 401: rotate it with 'ollama-gate rotate {name} "
                                    "--expires 30d'")
            rows.append((name, section, state, row))
    for name in sorted(set(listed) & set(secrets.retired)):
        if any(name in cfg.revoked and name not in secrets.expired_of(cfg.settings.auth_mode)
               for cfg in configs.values()):
            hosts_listing = [h for h in listed[name] if name in configs[h].revoked]
            rows.append((name, "retired", "removed", [("revoked" if h in hosts_listing else "-") for h in hosts]))
            warnings.append(f"{name!r} was removed (retired), but the inventory still lists it in auth_credentials "
                            f"of {', '.join(hosts_listing)}: deployed as revoked there and proved to get 401; "
                            "remove it from those lists")
    for host, cfg in configs.items():
        if not cfg.credentials:
            why = (f" (auth_credentials lists only revoked names: {', '.join(cfg.revoked)})" if cfg.revoked
                   else "")
            warnings.append(f"{host}: has no valid credential{why}: every request will get 401")

    header = ("credential", "in", "expires", *hosts)
    table = [header, *[(n, s, e, *c) for n, s, e, c in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    matrix = ["access: credential names x hosts (from the inventory and the secrets file; no host asked)"]
    matrix += ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    return matrix, warnings


def inventory_hosts(inventory) -> list[tuple[str, dict]]:
    """(name, merged data) for each host of a pyinfra Inventory, without connecting."""
    return [(host.name, host.data.dict()) for host in inventory]


def inventory_groups(inventory) -> dict[str, list[str]]:
    """host name -> the inventory groups it is in (roles, the pyinfra way)."""
    return {host.name: list(host.groups or ()) for host in inventory}


def check_pyinfra_inventory(inventory, base_dir: Path) -> Checked:
    """``check_inventory`` of a pyinfra Inventory, plus what only the inventory shows: a
    host whose groups disagree on a setting (an error) and --data keys nothing reads (a
    warning). Raises one ConfigError listing every problem."""
    errors = group_conflicts(inventory)
    try:
        checked = check_inventory(inventory_hosts(inventory), base_dir=base_dir,
                                  groups=inventory_groups(inventory))
    except ConfigError as e:
        errors += e.errors
    if errors:
        raise ConfigError(errors)
    checked.warnings[:0] = unknown_data_keys(inventory)
    return checked


_checked: dict[str, HostConfig] | None = None


def config_for_host(host, inventory) -> HostConfig:
    """The checked config of ``host``; the first call checks every host of the inventory,
    so one bad host stops the whole run before any operation runs anywhere. That call
    also prints the access matrix and its warnings, once."""
    global _checked
    if _checked is None:
        from pyinfra import logger
        from pyinfra.api.exceptions import PyinfraError

        from pyinfra import logger

        try:
            checked = check_pyinfra_inventory(inventory, base_dir=Path.cwd())
        except ConfigError as e:
            raise PyinfraError(
                f"ollama-gate: {len(e.errors)} problem(s) in the settings or secrets; "
                f"no host was changed:\n{e}") from None
        for line in checked.matrix:
            logger.info(line)
        for warning in checked.warnings:
            logger.warning(f"ollama-gate: {warning}")
        _checked = checked.configs
        # From here on the run ends with a line for every host of the inventory.
        outcomes.install(host.state, inventory)
        for name, cfg in _checked.items():
            outcomes.expect(name, cfg.settings.verify_enabled)
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
