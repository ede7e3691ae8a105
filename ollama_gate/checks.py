"""Verification: which requests prove an endpoint right, and how their answers are judged.

Pure: settings, credentials and retired values in, ``Probe``s out; probe answers (the
HttpProbe fact) in, ``Check``s out. ``operations/endpoint.py`` runs the probes on the host.
A check names its credential, never the value; values live only in ``Probe.authorization``,
which has no printable form.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from . import auth
from .secrets_file import Secret
from .model_names import model_key
from .settings import Settings

REPORT_ENV = "OLLAMA_GATE_REPORT"


def report_path_for(settings: Settings, report_path: str | None = None) -> Path | None:
    """Where the JSON report goes: the argument, else $OLLAMA_GATE_REPORT, else verify_report."""
    value = report_path or os.environ.get(REPORT_ENV) or settings.verify_report
    return Path(value).expanduser().resolve() if value else None


def report_path_error(settings: Settings) -> str | None:
    """Why the report could not be written where it goes (checked before any host is
    touched, so a run is never lost to a report path), naming the setting that chose it."""
    path = report_path_for(settings)
    if path is None:
        return None
    setting = REPORT_ENV if os.environ.get(REPORT_ENV) else "verify_report"
    if path.is_dir():
        return f"{setting}: {str(path)!r} is a directory; give the path of a .json file"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent  # the report's directories are made when it is written
    if not parent.is_dir():
        return f"{setting}: cannot write the report to {str(path)!r}: {str(parent)!r} is not a directory"
    try:  # the only sure test, as root too (read-only file systems, /proc, /sys)
        with tempfile.TemporaryFile(dir=parent):
            pass
        if path.exists():
            with open(path, "a"):
                pass
    except OSError as e:
        return f"{setting}: cannot write the report to {str(path)!r}: {e.strerror or e}"
    return None


# Check names (the report's "check" field and the failure messages).
ACCEPTED = "credential-accepted"
WRONG_REFUSED = "wrong-credential-refused"
NONE_REFUSED = "no-credential-refused"
RETIRED_REFUSED = "retired-credential-refused"
ADMIN_FORBIDDEN = "admin-route-forbidden"
GENERATE_TEXT = "generate-returns-text"
FILE_NAMES = "credential-file-names"

REFUSED = (401, 429)  # 429: refused by the failed-authentication rate limit (after a 401)
ADMIN_BODY = "{}"  # Ollama would answer 400 "model is required"; nothing is pulled
GENERATE_PROMPT = "Reply with one word: ready"


def authorization(mode: str, name: str, value: str) -> Secret:
    """The Authorization header a client of ``mode`` sends for credential ``name``, as a
    Secret named after the credential (it prints as its name only)."""
    return Secret(name, auth.mode(mode).authorization(name, value))


@dataclass(frozen=True)
class Probe:
    """One request the verification makes, with what it must answer."""

    check: str
    credential: str  # a name, "(none)" or "(random)"; never a value
    method: str
    path: str
    expected: int
    auth: Secret | None = field(default=None, repr=False, compare=False)
    body: str | None = None
    max_time: int = 30


@dataclass(frozen=True)
class Check:
    """The judged answer of one probe, as the report and the messages show it."""

    host: str
    check: str
    credential: str
    method: str
    path: str
    expected: str
    actual: str
    ok: bool
    detail: str = ""

    def message(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return (f"{self.host}: check {self.check} failed for credential {self.credential} "
                f"({self.method} {self.path}): expected {self.expected}, got {self.actual}{extra}")


def base_url(settings: Settings) -> str:
    """The proxy's URL as the host itself reaches it: where the verification runs ("verified
    at"), not what clients use (``client_url``, the summary's Base URL)."""
    scheme = "https" if settings.proxy_tls != "off" else "http"
    address = ipaddress.ip_address(settings.proxy_bind)
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{scheme}://{host}:{settings.proxy_port}"


def random_value(mode: str) -> str:
    """A credential no client has: a fresh random value of the mode (AuthMode.new_value)."""
    return auth.mode(mode).new_value()


def retired_to_probe(mode: str, credentials: Mapping[str, Secret], retired: Iterable[Secret]) -> list[Secret]:
    """The retired values that must be refused now: those this host does not accept.

    A value that is also a current value of the mode (a credential rotated back, or
    renamed) is still accepted and is skipped; duplicates are probed once.
    """
    m = auth.mode(mode)
    # What the proxy matches a credential by (basic: name and password; bearer: the key).
    current = {m.retired_identity(name, s.reveal()) for name, s in credentials.items()}
    seen: set = set()
    out = []
    for secret in retired:
        key = m.retired_identity(secret.name, secret.reveal())
        if key is None or key in current or key in seen:
            continue
        seen.add(key)
        out.append(secret)
    return out


def plan(settings: Settings, credentials: Mapping[str, Secret], retired: Iterable[Secret] = (),
         wrong_value: str | None = None) -> list[Probe]:
    """Every request that proves the endpoint: each credential in, everyone else out.

    + credentials: name -> value, the credentials this host accepts
    + retired: old values (SecretsFile.retired) that must get 401 now
    + wrong_value: the random wrong password or key (made here when not given)
    """
    mode = settings.auth_mode
    m = auth.mode(mode)
    wrong_value = wrong_value or m.new_value()
    names = sorted(credentials)
    probes = [
        Probe(ACCEPTED, name, "GET", "/api/tags", 200, authorization(mode, name, credentials[name].reveal()))
        for name in names
    ]
    wrong_label, wrong_name = m.wrong_credential(names)
    probes.append(Probe(WRONG_REFUSED, wrong_label, "GET", "/api/tags", 401,
                        authorization(mode, wrong_name, wrong_value)))
    probes.append(Probe(NONE_REFUSED, "(none)", "GET", "/api/tags", 401))
    for index, secret in enumerate(retired_to_probe(mode, credentials, retired)):
        probes.append(Probe(RETIRED_REFUSED, f"{secret.name} (retired value {index + 1})", "GET", "/api/tags", 401,
                            authorization(mode, secret.name, secret.reveal())))
    if names:
        first = names[0]
        first_auth = authorization(mode, first, credentials[first].reveal())
        probes.append(Probe(ADMIN_FORBIDDEN, first, "POST", "/api/pull", 403, first_auth, body=ADMIN_BODY))
        if settings.verify_generate and settings.models:
            body = json.dumps({"model": settings.models[0], "prompt": GENERATE_PROMPT, "stream": False,
                               "options": {"num_predict": 16}})
            probes.append(Probe(GENERATE_TEXT, first, "POST", "/api/generate", 200, first_auth, body=body,
                                max_time=min(int(settings.proxy_read_timeout), 300)))
    return probes


def challenges(settings: Settings) -> dict[str, str]:
    """The WWW-Authenticate a refused request must carry, per refusal check."""
    m = auth.mode_of(settings)
    refusal = m.refusal(settings.auth_realm)
    return {WRONG_REFUSED: refusal, NONE_REFUSED: m.challenge(settings.auth_realm), RETIRED_REFUSED: refusal}


def _status_text(answer: Mapping) -> str:
    status = answer.get("status") or 0
    if status:
        return str(status)
    code = answer.get("curl_exit")
    return f"no answer (curl exit {code})" if code is not None else "no answer"


def judge(host: str, settings: Settings, probe: Probe, answer: Mapping | None) -> Check:
    """Compare one probe's answer (the HttpProbe fact) with what it must be."""
    def check(ok: bool, actual: str, detail: str = "", expected: str | None = None) -> Check:
        return Check(host, probe.check, probe.credential, probe.method, probe.path,
                     expected or str(probe.expected), actual, ok, detail)

    if not answer:
        return check(False, "no answer", "curl gave no output")
    status = answer.get("status") or 0
    actual = _status_text(answer)

    if probe.expected == 401:
        expected_text = "401 with WWW-Authenticate: " + challenges(settings)[probe.check]
        if status == 429:
            # Only a failed authentication reaches the rate limit, so this is a refusal too.
            return check(True, "429", "refused by the failed-authentication rate limit", expected_text)
        if status != 401:
            return check(False, actual, expected=expected_text)
        wanted = challenges(settings)[probe.check]
        got = answer.get("www_authenticate") or []
        if got != [wanted]:
            return check(False, f"401 with WWW-Authenticate: {' | '.join(got) or '(none)'}",
                         expected=expected_text)
        return check(True, f"401 with WWW-Authenticate: {wanted}", expected=expected_text)

    if status != probe.expected:
        return check(False, actual)
    if probe.check == ACCEPTED:
        listed = answer.get("models")
        if listed is None:
            return check(False, actual, "the answer is not Ollama's model list")
        have = {model_key(m) for m in listed if isinstance(m, str)}
        missing = [m for m in settings.models if model_key(m) not in have]
        if missing:
            return check(False, f"{actual}, models listed: {', '.join(sorted(have)) or 'none'}",
                         expected=f"200 listing {', '.join(settings.models)}")
        return check(True, actual, f"models: {', '.join(sorted(have)) or 'none'}")
    if probe.check == GENERATE_TEXT:
        text = answer.get("response")
        if not isinstance(text, str) or not text.strip():
            return check(False, f"{actual} without generated text", expected="200 with generated text")
        return check(True, actual, f"{len(text)} characters of text from {settings.models[0]}")
    return check(True, actual)


def judge_all(host: str, settings: Settings, probes: Sequence[Probe], answers: Sequence[Mapping | None]) -> list[Check]:
    return [judge(host, settings, p, a) for p, a in zip(probes, answers)]


def client_url(settings: Settings, address: str) -> str:
    """The Base URL clients use: proxy_public_url, else the host's address (``address``, its
    ssh_hostname or name; proxy_bind when bound to one address) and proxy_port."""
    scheme = "https" if settings.proxy_tls != "off" else "http"
    if settings.proxy_bind not in ("0.0.0.0", "::"):
        address = settings.proxy_bind
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"
    return settings.proxy_public_url.rstrip("/") or f"{scheme}://{address}:{settings.proxy_port}"


def summary(host: str, address: str, settings: Settings, credentials: Mapping[str, Secret]) -> list[str]:
    """The lines a person copies into ThingsBoard's Ollama form (secrets by name only)."""
    m = auth.mode_of(settings)
    names = ", ".join(sorted(credentials)) or "none"
    how = (f"{m.summary_label} ({m.client_hint} of one of: {names}; "
           f"{m.value_kind}s under '{m.section}:' in the secrets file)")
    return [
        f"Base URL:        {client_url(settings, address)}",
        f"Authentication:  {how}",
        f"Model ID:        {settings.models[0] if settings.models else '(no model configured)'}",
    ]


def _names_text(entries: Mapping[str, int | None] | None) -> str:
    if entries is None:
        return "no credential file"
    return ", ".join(f"{n} (expires {e})" if e else n for n, e in sorted(entries.items())) or "no names"


def judge_names(host: str, path: str, wanted: Mapping[str, int | None],
                live: Mapping[str, int | None] | None) -> Check:
    """The names (and bearer expiries) in the host's credential file against the wanted ones."""
    ok = live is not None and dict(live) == dict(wanted)
    return Check(host, FILE_NAMES, "(all)", "READ", path, _names_text(wanted), _names_text(live), ok,
                 "" if ok else "the credential file differs from the inventory and secrets file: rerun the deploy")


def credentials_entry(wanted: Mapping[str, int | None], live: Mapping[str, int | None] | None,
                      revoked: Sequence[str]) -> dict:
    """The report's view of one host's credentials: names only, never values or hashes."""
    return {
        "wanted": sorted(wanted),
        "live": sorted(live) if live is not None else None,
        "revoked": sorted(revoked),
        "expires": {n: e for n, e in sorted(wanted.items()) if e},
    }


def host_report(host: str, settings: Settings, checks: Sequence[Check], summary_lines: Sequence[str],
                credentials: dict | None = None, address: str | None = None) -> dict:
    """One host's entry of the JSON report: ``base_url`` is what clients use (the summary's
    Base URL), ``verified_at`` where the host's own checks reached its proxy."""
    return {
        "ok": all(c.ok for c in checks),
        "auth_mode": settings.auth_mode,
        "base_url": client_url(settings, address or host),
        "verified_at": base_url(settings),
        "model": settings.models[0] if settings.models else None,
        "summary": list(summary_lines),
        "failed": sum(1 for c in checks if not c.ok),
        "credentials": credentials,
        "checks": [asdict(c) for c in checks],
    }


def run_report(inventory: Sequence[str], hosts: Mapping[str, dict]) -> dict:
    """The whole report: ok only when every host of the inventory was verified and passed."""
    missing = [name for name in inventory if name not in hosts]
    return {
        "version": 1,
        "ok": not missing and all(h["ok"] for h in hosts.values()),
        "not_verified": missing,
        "hosts": dict(sorted(hosts.items())),
    }
