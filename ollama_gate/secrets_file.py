"""Secrets: the YAML file of named passwords and API keys, kept out of git and out of output.

Read with PyYAML (YAML 1.1, so `no` or `0123` are caught as the non-strings they become)
and a loader that refuses duplicate names. Edited by the CLI as a round trip with
ruamel.yaml: comments, order, quoting and every untouched entry stay as written, and each
edit is checked to mean exactly the intended change before the file is replaced.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import io
import math
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
_INSTALLATION_KEY_COMMENT = ("Per-installation key of the .htpasswd salts (made by ollama-gate; keep it with "
                             "the secrets).")
RETIRED_KEEP = 3  # old values kept per name
NAME_MAX_LENGTH = 64
# `check` warns this long before a credential expires.
EXPIRY_WARNING = dt.timedelta(days=14)
# Hand-typed values zxcvbn can guess in fewer tries than this are refused (zxcvbn's top
# score starts at 1e10, but {SSHA} is a fast hash). Generated values are far above it.
MIN_GUESSES_LOG10 = 12
UTC = dt.timezone.utc


class Secret:
    """A password or key that never shows itself: str() and repr() give only its name.

    ``expires``: when it stops being accepted (aware, UTC), or None.
    """

    __slots__ = ("name", "_value", "expires")

    def __init__(self, name: str, value: str, expires: dt.datetime | None = None):
        self.name = name
        self._value = value
        self.expires = expires

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
    users: dict[str, Secret]  # accepted now (expiry, if any, still ahead)
    keys: dict[str, Secret]
    # Values that `rotate` and `remove` took out of service, kept so the deploy can prove
    # they are refused (401) after the rerun: name -> old values, newest last.
    retired: dict[str, list[Secret]] = field(default_factory=dict)
    # Entries whose expiry has passed: section -> name -> Secret. Not deployed; like
    # retired values they are proved to get 401.
    expired: dict[str, dict[str, Secret]] = field(default_factory=dict)
    installation_key: Secret | None = None

    def section(self, mode: str) -> dict[str, Secret]:
        """The credentials of auth mode ``mode`` (an unknown mode raises UnknownAuthMode)."""
        return getattr(self, auth.mode(mode).section)

    def in_section(self, section: str) -> dict[str, Secret]:
        return getattr(self, section)

    def expired_of(self, mode: str) -> dict[str, Secret]:
        return self.expired.get(auth.mode(mode).section, {})

    def refused(self) -> list[Secret]:
        """Every value that must get 401 now: retired ones, then expired ones."""
        out = [s for values in self.retired.values() for s in values]
        return out + [s for entries in self.expired.values() for s in entries.values()]

    def all_names(self) -> set[str]:
        names = set(self.users) | set(self.keys) | set(self.retired)
        return names | {n for entries in self.expired.values() for n in entries}


def secrets_path() -> Path:
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


def did_you_mean(name: str, names) -> str:
    """' (did you mean 'x'?)' for the closest of ``names``, or ''."""
    close = difflib.get_close_matches(str(name), sorted(names), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        if isinstance(e, yaml.reader.ReaderError):  # a control character: no mark, a position
            where = f" at line {text[:e.position].count(chr(10)) + 1} (a control character)"
        else:
            where = f" at line {mark.line + 1}" if mark else ""
        # The YAML error text could quote a secret: say only where it is.
        raise ConfigError([f"{ENV_VAR}: {str(path)!r} is not valid YAML{where}"]) from None


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


@functools.lru_cache(maxsize=4096)
def _guesses_log10(value: str, name: str) -> tuple[float, str]:
    # zxcvbn (Dropbox's estimator, maintained port on PyPI): dictionary words, names,
    # keyboard walks, repeats, sequences, dates, l33t. Only its generic warning text is
    # used, never the matched parts (they are pieces of the value).
    from zxcvbn import zxcvbn

    result = zxcvbn(value, user_inputs=[name, "ollama", "gate", "ollama-gate"])
    return math.log10(max(result["guesses"], 1)), result["feedback"]["warning"] or ""


def weakness(value: str, name: str) -> str | None:
    """Why a hand-typed value is a known-weak pattern (never quoting it), or None."""
    log10, warning = _guesses_log10(value, name)
    if log10 >= MIN_GUESSES_LOG10:
        return None
    why = f": {warning.rstrip('.')}" if warning else ""
    return (f"is a known-weak pattern (about 10^{int(log10)} guesses by zxcvbn, "
            f"10^{MIN_GUESSES_LOG10} needed{why})")


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
    if (err := mode.value_error(name, value, password_min_length)) is not None:
        return err
    if (weak := weakness(value, name)) is not None:
        return f"the {kind} of {name!r} {weak}; make a random one with: ollama-gate rotate {name}"
    return None


# --- Expiry -----------------------------------------------------------------------------
# A date means "refused from 00:00 UTC of that day on"; a date and time is exact (no
# time zone: UTC, as YAML says). Days are what people plan with; the time form exists
# for short-lived keys (and lets the tests watch a key expire a minute after deploying).

def parse_expiry(value: Any) -> dt.datetime:
    """The moment ``value`` (YAML date/datetime or ISO text) expires, aware UTC; ValueError."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("is not a date (2027-01-31) or a date and time (2027-01-31T12:00:00Z)") from None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError(f"must be a date (2027-01-31) or a date and time, got {type(value).__name__}")


_DURATION = re.compile(r"(\d+)([mhdw])")


def expiry_from_cli(text: str, now: dt.datetime | None = None) -> dt.date | dt.datetime:
    """What ``--expires`` writes: ``30d``/``2w`` give a date (that many days from today),
    ``90m``/``12h`` a UTC date and time, ISO text itself. Raises ConfigError."""
    now = now or dt.datetime.now(UTC)
    m = _DURATION.fullmatch(text.strip())
    try:
        if m:
            n, unit = int(m.group(1)), m.group(2)
            if n <= 0:
                raise ValueError("must be in the future")
            if unit in "dw":
                value: dt.date | dt.datetime = now.date() + dt.timedelta(days=n * (7 if unit == "w" else 1))
            else:
                value = (now + dt.timedelta(minutes=n * (60 if unit == "h" else 1))).replace(microsecond=0)
        else:
            value = parse_expiry(text)
            if len(text.strip()) == 10:
                value = value.date()
    except ValueError as e:
        raise ConfigError([f"--expires {text!r} {e} (examples: 30d, 2w, 12h, 90m, 2027-01-31, "
                           "2027-01-31T12:00:00Z)"]) from None
    if parse_expiry(value) <= now:
        raise ConfigError([f"--expires {text!r} is not in the future"])
    return value


def expiry_text(moment: dt.datetime) -> str:
    """A date when the moment is midnight UTC, else ISO with Z."""
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Reading ----------------------------------------------------------------------------

def _missing_file(path: Path) -> str:
    if not os.environ.get(ENV_VAR) and path == DEFAULT_PATH:
        return (f"{ENV_VAR} is not set, and the default secrets file {str(path)!r} does not exist: "
                f"check that {ENV_VAR} is exported in this shell (e.g. export {ENV_VAR}="
                "~/ollama-gate/secrets.yml); on a first setup create credentials with "
                "'ollama-gate new-user NAME' or 'new-key NAME'")
    return (f"{ENV_VAR}: the secrets file {str(path)!r} does not exist; create credentials with "
            "'ollama-gate new-user NAME' or 'new-key NAME' (see secrets.example.yml)")


def _entry(section: str, name: str, raw: Any, errors: list[str]) -> tuple[Any, dt.datetime | None, bool]:
    """(value, expiry, ok) of one entry: ``name: value`` or ``name: {value: ..., expires: ...}``."""
    if not isinstance(raw, dict):
        return raw, None, True
    unknown = sorted(map(str, set(raw) - {"value", "expires"}))
    if unknown or "value" not in raw:
        errors.append(f"secrets file '{section}': {name!r} must be a value or a mapping with 'value:' and "
                      f"optionally 'expires:'" + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        return None, None, False
    expires = None
    if raw.get("expires") is not None:
        try:
            expires = parse_expiry(raw["expires"])
        except ValueError as e:
            errors.append(f"secrets file '{section}': 'expires' of {name!r} {e}")
            return None, None, False
    return raw["value"], expires, True


def read_secrets_text(path: Path) -> str:
    """The secrets file's text; a ConfigError saying what is wrong with the path otherwise
    (never quoting the file's content)."""
    if path.is_dir():
        raise ConfigError([f"{ENV_VAR}: {str(path)!r} is a directory; give the path of the secrets "
                           "YAML file itself"])
    if not path.exists():
        raise ConfigError([_missing_file(path)])
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError([f"{ENV_VAR}: the secrets file {str(path)!r} cannot be read "
                           f"({e.strerror or e})"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError([f"{ENV_VAR}: the secrets file {str(path)!r} is not UTF-8 text (line {line}, "
                           f"column {column}); save it as UTF-8"]) from None


def load_secrets(path: Path | None = None, password_min_length: int = 20,
                 now: dt.datetime | None = None) -> SecretsFile:
    """Read and check the secrets file; raises ConfigError naming every problem.
    Entries whose expiry is not after ``now`` go to ``expired``, not to their section."""
    path = Path(path) if path else secrets_path()
    now = now or dt.datetime.now(UTC)
    raw = _parse_yaml(read_secrets_text(path), path) or {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{ENV_VAR}: {str(path)!r} must be a mapping with 'users:' and/or 'keys:'"])

    errors = []
    for key in raw:
        if key not in (*SECTIONS.values(), RETIRED, INSTALLATION_KEY):
            errors.append(f"secrets file: unknown section {key!r} (expected 'users', 'keys' or '{RETIRED}')"
                          + did_you_mean(key, (*SECTIONS.values(), RETIRED, INSTALLATION_KEY)))
    sections: dict[str, dict[str, Secret]] = {}
    expired: dict[str, dict[str, Secret]] = {}
    for section in SECTIONS.values():
        entries = raw.get(section) or {}
        if not isinstance(entries, dict):
            errors.append(f"secrets file: '{section}' must map names to values")
            entries = {}
        seen_values: dict[str, str] = {}
        parsed, gone = {}, {}
        for name, entry in entries.items():
            if (err := name_error(name)) is not None:
                errors.append(f"secrets file '{section}': {err}")
                continue
            value, expires, ok = _entry(section, name, entry, errors)
            if not ok:
                continue
            if (err := value_error(section, name, value, password_min_length)) is not None:
                errors.append(f"secrets file '{section}': {err}")
                continue
            if value in seen_values:
                errors.append(f"secrets file '{section}': {name!r} has the same value as "
                              f"{seen_values[value]!r}; every credential must be unique")
                continue
            seen_values[value] = name
            secret = Secret(name, value, expires)
            (gone if expires is not None and expires <= now else parsed)[name] = secret
        sections[section] = parsed
        expired[section] = gone
    retired = _parse_retired(raw.get(RETIRED), errors)
    key = raw.get(INSTALLATION_KEY)
    if key is not None and not (isinstance(key, str) and re.fullmatch(r"[0-9a-f]{64}", key)):
        errors.append(f"secrets file: {INSTALLATION_KEY} must be 64 hex digits as the CLI makes it "
                      "(changing it changes every .htpasswd line on the next deploy)")
    if errors:
        raise ConfigError(errors)
    return SecretsFile(path, sections["users"], sections["keys"], retired, expired,
                       installation_key=Secret(INSTALLATION_KEY, key) if key else None)


def ensure_installation_key(path: Path) -> bool:
    """Give the secrets file an installation key if it has none, by appending one line (the
    rest of the file stays byte for byte). True when it added one. The value is never shown."""
    text = read_secrets_text(path)
    before = _parse_yaml(text, path) or {}  # a YAML error never quotes the file (a secret may be on that line)
    if not isinstance(before, dict) or before.get(INSTALLATION_KEY):
        return False
    line = f"# {_INSTALLATION_KEY_COMMENT}\n{INSTALLATION_KEY}: \"{_random.token_hex(32)}\"\n"
    new = text + ("" if text.endswith("\n") or not text else "\n") + line
    try:
        after = yaml.load(new, Loader=_StrictLoader) or {}
    except yaml.YAMLError:  # e.g. the file ends with "...": the appended line is a second document
        after = None
    if not isinstance(after, dict) or {k: v for k, v in after.items() if k != INSTALLATION_KEY} != before:
        raise ConfigError([f"{ENV_VAR}: could not add {INSTALLATION_KEY} to {str(path)!r} without "
                           f"changing it; add a line '{INSTALLATION_KEY}: \"<64 hex digits>\"' yourself "
                           "(python3 -c 'import secrets; print(secrets.token_hex(32))')"])
    _write_text(path, new)
    return True


def _parse_retired(entries: Any, errors: list[str]) -> dict[str, list[Secret]]:
    if not entries:
        return {}
    if not isinstance(entries, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in entries.values()):
        errors.append(f"secrets file: '{RETIRED}' must map names to lists of old values (written by rotate/remove)")
        return {}
    return {str(name): [Secret(str(name), v) for v in values] for name, values in entries.items()}


@dataclass(frozen=True)
class Assignment:
    """What one host accepts, from its auth_credentials and the secrets file."""

    credentials: dict[str, Secret]
    # Names the host lists that were removed, rotated away or expired: deployed as refused
    # (left out of the credential file) and proved to get 401.
    revoked: tuple[str, ...] = ()


def assign(secrets: SecretsFile, mode: str, names: tuple[str, ...]) -> Assignment:
    """The credentials one host accepts: the mode's section, narrowed to ``names`` if given.
    A listed name that is retired or expired is revoked, not an error: `remove NAME` and a
    plain rerun must work before anyone edits the inventory."""
    section_name = SECTIONS[mode]
    section, gone = secrets.section(mode), secrets.expired_of(mode)
    if not names:
        if not section and not gone:
            raise ConfigError([f"auth_mode: '{mode}' needs at least one entry under "
                               f"'{section_name}:' in {str(secrets.path)!r}"])
        return Assignment(dict(sorted(section.items())), tuple(sorted(gone)))
    errors, revoked = [], []
    for n in names:
        if n in section:
            continue
        if n in gone or n in secrets.retired:
            revoked.append(n)
            continue
        other = next((s for m, s in SECTIONS.items() if m != mode and n in secrets.section(m)), None)
        if other is not None:
            errors.append(f"auth_credentials: {n!r} not found under '{section_name}:' (auth_mode '{mode}'); "
                          f"it is under '{other}:', which another auth mode uses")
        else:
            errors.append(f"auth_credentials: {n!r} not found under '{section_name}:' in "
                          f"{str(secrets.path)!r}{did_you_mean(n, [*section, *gone])}")
    if errors:
        raise ConfigError(errors)
    return Assignment({n: section[n] for n in sorted(set(names)) if n in section}, tuple(sorted(set(revoked))))


def credentials_for(secrets: SecretsFile, mode: str, names: tuple[str, ...]) -> dict[str, Secret]:
    """The credentials one host accepts (see ``assign``)."""
    return assign(secrets, mode, names).credentials


# --- Making and changing credentials (the CLI's new-user/new-key/rotate/remove) ------

def generate(section: str) -> str:
    """A fresh credential of the mode whose section this is (AuthMode.new_value)."""
    return auth.by_section(section).new_value()


_HEADER = """\
# ollama-gate secrets: never commit this file (see secrets.example.yml).
# users: HTTP Basic passwords (auth_mode basic); keys: Bearer API keys (auth_mode bearer).
# An entry is `name: value`, or `name: {value: ..., expires: 2027-01-31}`.
# retired: old values taken out by rotate/remove; the deploy checks they get 401.
"""
# Leading comment, blank, directive and `---` lines: ruamel drops comments before `---`,
# so they are kept aside and put back as they were.
_PREAMBLE = re.compile(r"(?:(?:[ \t]*(?:#[^\n]*)?|%[^\n]*|---[ \t]*(?:#[^\n]*)?)\n)*")


def _resolves_as_str(name: str) -> bool:
    try:
        return yaml.safe_load(f"{name}: x") == {name: "x"}
    except yaml.YAMLError:
        return False


_COMMENT = re.compile(r"(?:^|\s)#.*")


def _mapping_indent(body: str) -> int | None:
    """How far the entries of a section are indented: the first indented line after a
    ``section:`` line (comments and blank lines skipped); None when there is none."""
    after_section = False
    for line in body.splitlines():
        code = _COMMENT.sub("", line).rstrip()
        if not code:
            continue
        lead = len(code) - len(code.lstrip(" "))
        if after_section and lead:
            return lead
        after_section = code.endswith(":") and not lead
    return None


class _Edit:
    """One round-trip edit of the secrets file: ruamel.yaml keeps comments, order, quoting
    and indentation; ``save`` refuses to write unless PyYAML reads the new text as exactly
    the old content plus the intended change."""

    def __init__(self, path: Path):
        from ruamel.yaml import YAML
        from ruamel.yaml.comments import CommentedMap
        from ruamel.yaml.util import load_yaml_guess_indent

        self.path = path
        text = read_secrets_text(path) if path.exists() else ""
        self.old = _parse_yaml(text, path) or {}  # duplicate names and bad YAML stop here
        if not isinstance(self.old, dict):
            raise ConfigError([f"{ENV_VAR}: {str(path)!r} must be a mapping with 'users:' and/or 'keys:'"])
        self.expected = _copy(self.old)
        self.preamble = _PREAMBLE.match(text).group(0) if text.strip() else _HEADER
        body = text[len(self.preamble):] if text.strip() else ""
        self.yaml = YAML()
        self.yaml.preserve_quotes = True
        self.yaml.width = 4096  # never re-wrap a long line
        try:
            # ruamel guesses a block sequence's indent (dash offset, then its items) when the
            # file has one, the mappings' otherwise: the mappings' is found here.
            mapping = _mapping_indent(body) or 2
            _, sequence, offset = load_yaml_guess_indent(body) if body.strip() else (None, None, None)
            if offset is None:  # no block sequence
                sequence, offset = mapping, 0
            self.yaml.indent(mapping=mapping, sequence=sequence or mapping + offset, offset=offset)
            self.doc = self.yaml.load(body) if body.strip() else None
        except Exception:  # ruamel's message may quote the file: say only that it failed
            raise ConfigError([f"{ENV_VAR}: {str(path)!r} could not be read for editing; "
                               "the file is unchanged"]) from None
        if self.doc is None:
            self.doc = CommentedMap()
        # New sections put before the installation key, with the comments that preceded it.
        self._before_key: list[tuple[str, str]] = []

    def section(self, section: str, create: bool = True):
        from ruamel.yaml.comments import CommentedMap

        if self.doc.get(section) is None:
            if not create:
                return None
            if section in self.doc:
                self.doc[section] = CommentedMap()
            elif INSTALLATION_KEY in self.doc:
                # A new section goes before the installation key, and so do the comments
                # that precede that key (ruamel keeps them after the entry before it).
                keys = list(self.doc)
                index = keys.index(INSTALLATION_KEY)
                rest = _split_trailing(*_tail_of(self.doc, keys[index - 1])) if index else ""
                self.doc.insert(index, section, CommentedMap())
                self._before_key.append((section, rest))
            else:
                _append(self.doc, section, CommentedMap())
            self.expected[section] = {}
        return self.doc[section]

    def find(self, name: str) -> str | None:
        for section in SECTIONS.values():
            if name in (self.doc.get(section) or {}):
                return section
        return None

    def names(self) -> set[str]:
        return {str(n) for s in (*SECTIONS.values(), RETIRED) for n in (self.old.get(s) or {})}

    def retire(self, name: str, old: Any) -> None:
        """Keep ``old`` under retired: so the deploy proves it gets 401."""
        from ruamel.yaml.comments import CommentedSeq
        from ruamel.yaml.scalarstring import DoubleQuotedScalarString

        if isinstance(old, dict):
            old = old.get("value")
        if not isinstance(old, str):
            return
        retired = self.section(RETIRED)
        values = retired.get(name)
        if not isinstance(values, list):
            values = CommentedSeq()
            values.fa.set_flow_style()
            if name in retired:
                retired[name] = values
            else:
                _append(retired, name, values)
        values.append(DoubleQuotedScalarString(old))
        while len(values) > RETIRED_KEEP:
            del values[0]
        self.expected.setdefault(RETIRED, {})
        self.expected[RETIRED][name] = (list(self.expected[RETIRED].get(name) or []) + [str(old)])[-RETIRED_KEEP:]

    def save(self) -> None:
        for section, rest in self._before_key:
            _give_trailing(*_tail_of(self.doc, section), rest)
        if not self.doc.get(INSTALLATION_KEY):
            # Made on the first write, kept on every later one (see ensure_installation_key).
            from ruamel.yaml.scalarstring import DoubleQuotedScalarString

            value = _random.token_hex(32)
            _append(self.doc, INSTALLATION_KEY, DoubleQuotedScalarString(value))
            self.doc.yaml_set_comment_before_after_key(INSTALLATION_KEY, before=_INSTALLATION_KEY_COMMENT)
            self.expected[INSTALLATION_KEY] = value
        out = io.StringIO()
        self.yaml.dump(self.doc, out)
        new = self.preamble + out.getvalue()
        if _parse_yaml(new, self.path) != self.expected:
            raise ConfigError([f"{ENV_VAR}: the edit of {str(self.path)!r} could not keep the file as "
                               "written; the file is unchanged (edit it by hand)"])
        _write_text(self.path, new)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _tail_of(mapping, key) -> tuple[Any, Any]:
    """(mapping, key) holding the comments and blank lines that follow the entry ``key``:
    its last nested key when its value is a block mapping, else the entry itself."""
    from ruamel.yaml.comments import CommentedMap

    value = mapping[key]
    if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
        return _tail_of(value, list(value)[-1])
    return mapping, key


def _tail(mapping) -> tuple[Any, Any] | None:
    """Where the comments after the last entry of ``mapping`` are kept (None: empty)."""
    return _tail_of(mapping, list(mapping)[-1]) if mapping else None


def _split_trailing(mapping, key) -> str:
    """Cut what follows the end of ``key``'s line (blank lines, comments of the next entry)
    off its comment, and return it."""
    item = mapping.ca.items.get(key)
    if not item or len(item) < 3 or item[2] is None:
        return ""
    token = item[2]
    end = token.value.find("\n")
    if end < 0 or end + 1 >= len(token.value):
        return ""
    rest = token.value[end + 1:]
    token.value = token.value[:end + 1]
    return rest


def _give_trailing(mapping, key, rest: str) -> None:
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    if not rest:
        return
    item = mapping.ca.items.setdefault(key, [None, None, None, None])
    while len(item) < 4:
        item.append(None)
    if item[2] is None:
        item[2] = CommentToken("\n" + rest, CommentMark(0), None)
    else:
        item[2].value += rest


def _append(mapping, key, value) -> None:
    """Add ``key`` at the end of ``mapping``, after its last entry but before the blank
    lines and comments that followed that entry (they belong to what comes next)."""
    tail = _tail(mapping)
    rest = _split_trailing(*tail) if tail else ""
    mapping[key] = value
    _give_trailing(*_tail_of(mapping, key), rest)


def _pop(mapping, key) -> Any:
    """Remove ``key``; the blank lines and comments after it stay, on the entry before it."""
    keys = list(mapping)
    index = keys.index(key)
    rest = _split_trailing(*_tail_of(mapping, key))
    value = mapping.pop(key)
    if rest:
        if index > 0:
            _give_trailing(*_tail_of(mapping, keys[index - 1]), rest)
        elif mapping:
            # It was the first entry: what followed it now comes before the next one.
            _prepend_comment(mapping, list(mapping)[0], rest)
    return value


def _prepend_comment(mapping, key, rest: str) -> None:
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    item = mapping.ca.items.setdefault(key, [None, None, None, None])
    item[1] = [CommentToken(rest, CommentMark(0), None)] + list(item[1] or [])


def _write_text(path: Path, text: str) -> None:
    """Replace the file atomically, readable by its owner only."""
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


def _not_found(edit: _Edit, name: str) -> ConfigError:
    if name in (edit.old.get(RETIRED) or {}):
        return ConfigError([f"{name!r} was removed (only its old values are under '{RETIRED}:' in "
                            f"{str(edit.path)!r})"])
    return ConfigError([f"no credential named {name!r} in {str(edit.path)!r}{did_you_mean(name, edit.names())}"])


def _new_entry(value: str, expires: dt.date | None):
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    quoted = DoubleQuotedScalarString(value)  # generated values never become another type
    if expires is None:
        return quoted, value
    entry = CommentedMap()
    entry["value"] = quoted
    entry["expires"] = expires
    return entry, {"value": value, "expires": expires}


def add(path: Path, section: str, name: str, expires: dt.date | None = None) -> str:
    """Add a new named credential; returns its value (to be shown once)."""
    if (err := name_error(name)) is not None:
        raise ConfigError([err])
    if not _resolves_as_str(name):
        raise ConfigError([f"the name {name!r} would be read by YAML as another type; choose another name"])
    edit = _Edit(path)
    if (where := edit.find(name)) is not None:
        raise ConfigError([f"{name!r} already exists under '{where}:'; use 'rotate {name}' to replace it"])
    value = generate(section)
    entry, plain = _new_entry(value, expires)
    _append(edit.section(section), name, entry)
    edit.expected[section][name] = plain
    edit.save()
    return value


_KEEP = object()


def rotate(path: Path, name: str, expires: Any = _KEEP) -> tuple[str, str]:
    """Replace the value of an existing credential; returns (section, new value). Its
    expiry stays unless ``expires`` is given (None: no expiry any more)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    edit = _Edit(path)
    section = edit.find(name)
    if section is None:
        raise _not_found(edit, name)
    value = generate(section)
    entries = edit.doc[section]
    old = entries[name]
    edit.retire(name, old)
    if isinstance(old, dict) and expires is _KEEP:
        old["value"] = DoubleQuotedScalarString(value)
        edit.expected[section][name] = dict(edit.expected[section][name], value=value)
    elif isinstance(old, dict) and expires is None:
        entries[name] = DoubleQuotedScalarString(value)
        edit.expected[section][name] = value
    elif isinstance(old, dict):
        old["value"] = DoubleQuotedScalarString(value)
        old["expires"] = expires
        edit.expected[section][name] = dict(edit.expected[section][name], value=value, expires=expires)
    elif expires is _KEEP or expires is None:
        entries[name] = DoubleQuotedScalarString(value)
        edit.expected[section][name] = value
    else:
        entry, plain = _new_entry(value, expires)
        entries[name] = entry
        edit.expected[section][name] = plain
    edit.save()
    return section, value


def remove(path: Path, name: str) -> str:
    """Delete a credential; its value moves under retired: (proved to get 401)."""
    edit = _Edit(path)
    section = edit.find(name)
    if section is None:
        raise _not_found(edit, name)
    old = _pop(edit.doc[section], name)
    del edit.expected[section][name]
    edit.retire(name, old)
    edit.save()
    return section


def show(path: Path, name: str) -> tuple[str, Secret, bool]:
    """(section, secret, expired) of a current credential, for pasting into a client."""
    secrets = load_secrets(path, password_min_length=1)
    for section in SECTIONS.values():
        entries = secrets.in_section(section)
        if name in entries:
            return section, entries[name], False
        if name in secrets.expired.get(section, {}):
            return section, secrets.expired[section][name], True
    if name in secrets.retired:
        raise ConfigError([f"{name!r} was removed: only its old values are kept, under '{RETIRED}:'"])
    raise ConfigError([f"no credential named {name!r} in {str(secrets.path)!r}"
                       f"{did_you_mean(name, secrets.all_names())}"])
