"""Secrets: the YAML file of named passwords and API keys, kept out of git and out of output."""

from __future__ import annotations

import os
import re
import secrets as _random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import PROJECT_DIR, auth
# How strong generated credentials are: defined by each mode (README and group_data/all.py
# quote these numbers; tests/unit/test_docs_truth.py holds them to it).
from .auth.basic import PASSWORD_BITS  # noqa: F401
from .auth.bearer import KEY_BITS  # noqa: F401
from .settings import ConfigError

ENV_VAR = "OLLAMA_GATE_SECRETS"
DEFAULT_PATH = PROJECT_DIR / "secrets.yml"  # covered by .gitignore
SECTIONS = auth.SECTIONS  # auth mode -> its section ("users", "keys")
RETIRED = "retired"
# A random per-installation key (64 hex digits): the .htpasswd salts are HMACs under it, so
# the file is a pure function of the secrets and the deploy never reads hashes back.
INSTALLATION_KEY = "installation_key"
RETIRED_KEEP = 3  # old values kept per name
NAME_MAX_LENGTH = 64


class Secret:
    """A password or key that never shows itself: str() and repr() give only its name."""

    __slots__ = ("name", "_value")

    def __init__(self, name: str, value: str):
        self.name = name
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"<secret {self.name}>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self.name, self._value) == (other.name, other._value)

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True)
class SecretsFile:
    path: Path
    users: dict[str, Secret]
    keys: dict[str, Secret]
    # Values that `rotate` and `remove` took out of service, kept so the deploy can prove
    # they are refused (401) after the rerun: name -> old values, newest last.
    retired: dict[str, list[Secret]] = field(default_factory=dict)
    installation_key: Secret | None = None

    def section(self, mode: str) -> dict[str, Secret]:
        """The credentials of auth mode ``mode`` (an unknown mode raises UnknownAuthMode)."""
        return getattr(self, auth.mode(mode).section)


def secrets_path() -> Path:
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise ConfigError([f"secrets file line {key_node.start_mark.line + 1}: the name {key!r} "
                               f"appears twice (first on line {seen[key]}); names must be unique"])
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def name_error(name: Any) -> str | None:
    """Why a user or key name cannot be used (it ends up in .htpasswd, key files and logs)."""
    if not isinstance(name, str):
        return (f"the name {name!r} was read by YAML as {type(name).__name__}; "
                "quote it so it stays a string")
    if not name:
        return "a name is empty"
    if ":" in name:
        return f"the name {name!r} contains ':', which separates name and hash in the credential files"
    if name.startswith("#"):
        return f"the name {name!r} starts with '#', which marks a comment in the credential files"
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        return f"the name {name!r} contains whitespace or control characters"
    if len(name) > NAME_MAX_LENGTH:
        return f"the name {name[:20]!r}... is longer than {NAME_MAX_LENGTH} characters"
    return None


def value_error(section: str, name: str, value: Any, password_min_length: int) -> str | None:
    """Why a password or key cannot be used. Never quotes the value itself."""
    mode = auth.by_section(section)
    kind = mode.value_kind
    if not isinstance(value, str):
        return (f"the {kind} of {name!r} was read by YAML as {type(value).__name__}, not as text; "
                f"quote it (YAML turns no/on/0123/12:30 into other types)")
    if value == "":
        return f"the {kind} of {name!r} is empty"
    if value != value.strip():
        return f"the {kind} of {name!r} starts or ends with whitespace"
    if any(not ch.isprintable() for ch in value):
        return f"the {kind} of {name!r} contains control characters"
    return mode.value_error(name, value, password_min_length)


def load_secrets(path: Path | None = None, password_min_length: int = 20) -> SecretsFile:
    """Read and check the secrets file; raises ConfigError naming every problem."""
    path = Path(path) if path else secrets_path()
    if not path.is_file():
        raise ConfigError([
            f"{ENV_VAR}: the secrets file {str(path)!r} does not exist; create credentials with "
            "'python -m ollama_gate new-user NAME' or 'new-key NAME' (see secrets.example.yml)"])
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        # The YAML error text could quote a secret: say only where it is.
        raise ConfigError([f"{ENV_VAR}: {str(path)!r} is not valid YAML{where}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{ENV_VAR}: {str(path)!r} must be a mapping with 'users:' and/or 'keys:'"])

    errors = []
    for key in raw:
        if key not in (*SECTIONS.values(), RETIRED, INSTALLATION_KEY):
            errors.append(f"secrets file: unknown section {key!r} (expected 'users', 'keys' or '{RETIRED}')")
    sections: dict[str, dict[str, Secret]] = {}
    for section in SECTIONS.values():
        entries = raw.get(section) or {}
        if not isinstance(entries, dict):
            errors.append(f"secrets file: '{section}' must map names to values")
            entries = {}
        seen_values: dict[str, str] = {}
        parsed = {}
        for name, value in entries.items():
            err = name_error(name) or value_error(section, name, value, password_min_length)
            if err is not None:
                errors.append(f"secrets file '{section}': {err}")
                continue
            if value in seen_values:
                errors.append(f"secrets file '{section}': {name!r} has the same value as "
                              f"{seen_values[value]!r}; every credential must be unique")
                continue
            seen_values[value] = name
            parsed[name] = Secret(name, value)
        sections[section] = parsed
    retired = _parse_retired(raw.get(RETIRED), errors)
    key = raw.get(INSTALLATION_KEY)
    if key is not None and not (isinstance(key, str) and re.fullmatch(r"[0-9a-f]{64}", key)):
        errors.append(f"secrets file: {INSTALLATION_KEY} must be 64 hex digits as the CLI makes it "
                      "(changing it changes every .htpasswd line on the next deploy)")
    if errors:
        raise ConfigError(errors)
    return SecretsFile(path, sections["users"], sections["keys"], retired,
                       Secret(INSTALLATION_KEY, key) if key else None)


def ensure_installation_key(path: Path) -> bool:
    """Give the secrets file an installation key if it has none, by appending one line (the
    rest of the file stays byte for byte). True when it added one. The value is never shown."""
    text = path.read_text(encoding="utf-8")
    before = yaml.load(text, Loader=_StrictLoader) or {}
    if not isinstance(before, dict) or before.get(INSTALLATION_KEY):
        return False
    line = (f"# Per-installation key of the .htpasswd salts (made by ollama-gate; keep it with the secrets).\n"
            f"{INSTALLATION_KEY}: \"{_random.token_hex(32)}\"\n")
    new = text + ("" if text.endswith("\n") or not text else "\n") + line
    after = yaml.load(new, Loader=_StrictLoader) or {}
    if {k: v for k, v in after.items() if k != INSTALLATION_KEY} != before:
        raise ConfigError([f"{ENV_VAR}: could not add {INSTALLATION_KEY} to {str(path)!r} without "
                           f"changing it; add a line '{INSTALLATION_KEY}: \"<64 hex digits>\"' yourself "
                           "(python3 -c 'import secrets; print(secrets.token_hex(32))')"])
    _replace(path, new)
    return True


def _replace(path: Path, text: str) -> None:
    """Write ``text`` over ``path`` atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _parse_retired(entries: Any, errors: list[str]) -> dict[str, list[Secret]]:
    if not entries:
        return {}
    if not isinstance(entries, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in entries.values()):
        errors.append(f"secrets file: '{RETIRED}' must map names to lists of old values (written by rotate/remove)")
        return {}
    return {str(name): [Secret(str(name), v) for v in values] for name, values in entries.items()}


def credentials_for(secrets: SecretsFile, mode: str, names: tuple[str, ...]) -> dict[str, Secret]:
    """The credentials one host accepts: the mode's section, narrowed to ``names`` if given."""
    section = secrets.section(mode)
    if not names:
        if not section:
            raise ConfigError([f"auth_mode: '{mode}' needs at least one entry under "
                               f"'{SECTIONS[mode]}:' in {str(secrets.path)!r}"])
        return dict(sorted(section.items()))
    missing = [n for n in names if n not in section]
    if missing:
        raise ConfigError([f"auth_credentials: {', '.join(map(repr, missing))} not found under "
                           f"'{SECTIONS[mode]}:' in {str(secrets.path)!r}"])
    return {n: section[n] for n in sorted(names)}


# --- Making and changing credentials (the CLI's new-user/new-key/rotate/remove) ------

def generate(section: str) -> str:
    """A fresh credential of the mode whose section this is (AuthMode.new_value)."""
    return auth.by_section(section).new_value()


_HEADER = """\
# ollama-gate secrets: never commit this file (see secrets.example.yml).
# users: HTTP Basic passwords (auth_mode basic); keys: Bearer API keys (auth_mode bearer).
# retired: old values taken out by rotate/remove; the deploy checks they get 401.
"""


def _section_of(raw: dict, name: str) -> str | None:
    for section in SECTIONS.values():
        if name in (raw.get(section) or {}):
            return section
    return None


def _write(path: Path, raw: dict) -> None:
    """Replace the file atomically, readable by its owner only."""
    sections = {s: raw.get(s) or {} for s in SECTIONS.values()}
    if raw.get(RETIRED):
        sections[RETIRED] = raw[RETIRED]
    # Made on the first write, kept on every later one.
    sections[INSTALLATION_KEY] = raw.get(INSTALLATION_KEY) or _random.token_hex(32)
    body = yaml.safe_dump(sections,
                          default_flow_style=False, sort_keys=True, default_style=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_HEADER + body)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_raw(path: Path) -> dict:
    if not path.exists():
        return {}
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader) or {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{ENV_VAR}: {str(path)!r} must be a mapping with 'users:' and/or 'keys:'"])
    return raw


def add(path: Path, section: str, name: str) -> str:
    """Add a new named credential; returns its value (to be shown once)."""
    if (err := name_error(name)) is not None:
        raise ConfigError([err])
    raw = _read_raw(path)
    if (where := _section_of(raw, name)) is not None:
        raise ConfigError([f"{name!r} already exists under '{where}:'; use 'rotate {name}' to replace it"])
    value = generate(section)
    raw.setdefault(section, {})
    raw[section] = dict(raw[section] or {}, **{name: value})
    _write(path, raw)
    return value


def rotate(path: Path, name: str) -> tuple[str, str]:
    """Replace the value of an existing credential; returns (section, new value)."""
    raw = _read_raw(path)
    section = _section_of(raw, name)
    if section is None:
        raise ConfigError([f"no credential named {name!r} in {str(path)!r}"])
    value = generate(section)
    _retire(raw, name, raw[section][name])
    raw[section][name] = value
    _write(path, raw)
    return section, value


def _retire(raw: dict, name: str, old: Any) -> None:
    if not isinstance(old, str):
        return
    retired = raw.setdefault(RETIRED, {}) or {}
    raw[RETIRED] = retired
    retired[name] = (list(retired.get(name) or []) + [old])[-RETIRED_KEEP:]


def remove(path: Path, name: str) -> str:
    raw = _read_raw(path)
    section = _section_of(raw, name)
    if section is None:
        raise ConfigError([f"no credential named {name!r} in {str(path)!r}"])
    _retire(raw, name, raw[section].pop(name))
    _write(path, raw)
    return section
