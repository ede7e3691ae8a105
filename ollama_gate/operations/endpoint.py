"""The endpoint proven from its host: every credential in, everyone else out, a report for CI."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from pyinfra import host, logger
from pyinfra.api import operation

from .. import auth, outcomes
from .. import tls
from ..config import HostConfig
from ..layout import layout_of
from ..facts.http import EndpointProbes, HttpProbes, curl_batch_config
from ..facts.tls import Certificate
from ..secrets_file import Secret, load_secrets, secrets_path
from ..checks import (REPORT_ENV, Check, Probe, base_url, credentials_entry, host_report, judge,  # noqa: F401
                      judge_names, plan, report_path_for, run_report, summary)
from ..gateway import backend_probes, backend_resolve, backend_state, backend_url, backends_report, pool_summary
from ..proxy import BACKEND_CA_FILENAME
from . import snapshot
from .util import fail_host

# A rewritten bearer key file is read by the proxy within a second, and a proxy that was
# just (re)started may need a moment: failed checks are asked again for this long.
SETTLE_SECONDS = 15
RETRY_INTERVAL = 1
# The probes asked with the host-state read hold up the whole run (its first operation waits
# for the read): none takes longer than this. A slower answer (a wedged Ollama, a model
# loading from a slow disk) only means the host is asked again at the end, with the
# verification's own time limits.
READ_MAX_TIME = 60

# This run's report, path -> host -> entry. Hosts verify in parallel greenlets; each adds
# its entry and rewrites the whole file, so the file always holds this run's hosts only.
_reports: dict[Path, dict[str, dict]] = {}


def _flatten(retired: Mapping[str, Sequence[Secret]] | Iterable[Secret]) -> list[Secret]:
    if isinstance(retired, Mapping):
        return [s for values in retired.values() for s in values]
    return list(retired)


@dataclass(frozen=True)
class _Target:
    """Where a group of probes goes and how they are judged: the label and settings of the
    endpoint that answers (the host itself, or a gateway's backend), its URL, and whether
    its certificate is taken as it is (the host's own self-signed proxy); ``tls``: ``(cacert,
    resolve)`` for a gateway's TLS backend, its certificate and name checked (never -k)."""

    label: str
    settings: object
    url: str
    insecure: bool
    tls: tuple = ()


def _ask(asked: Sequence[tuple[_Target, Probe]], names_file: str = ""):
    """Every probe's answer, from ONE remote command (one curl making all the requests,
    each to its own target's URL); with ``names_file``, ``(answers, names in that
    credential file)`` from that same command. The Authorization headers go to curl on
    stdin (-K -), in a buffer that prints as a placeholder: never on a command line, never
    in pyinfra's output."""
    requests, stdin = _batch(asked)
    names = None
    if names_file:
        both = host.get_fact(EndpointProbes, requests=requests, names_file=names_file, _stdin=stdin) or {}
        answers, names = both.get("answers") or [], both.get("names")
    else:
        answers = host.get_fact(HttpProbes, requests=requests, _stdin=stdin) or []
    answers = [*answers, *[None] * (len(asked) - len(answers))][:len(asked)]
    return (answers, names) if names_file else answers


def _write_report(path: Path, name: str, entry: dict) -> None:
    hosts = _reports.setdefault(path, {})
    hosts[name] = entry
    report = run_report([h.name for h in host.state.inventory], hosts)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _settled(asked: Sequence[tuple[_Target, Probe]], names_file: str = ""):
    """Each probe judged against its target; failed ones asked again (all of them in one
    command) for SETTLE_SECONDS (a proxy that was just reloaded or a key file the Lua check
    reads again within a second). Returns ``(checks, names in names_file)``; the names are
    read by the first command."""
    answers, names = _ask(asked, names_file) if names_file else (_ask(asked), None)
    checks: list[Check] = [judge(t.label, t.settings, p, a) for (t, p), a in zip(asked, answers)]
    deadline = time.monotonic() + SETTLE_SECONDS
    while any(not c.ok for c in checks) and time.monotonic() < deadline:
        time.sleep(RETRY_INTERVAL)
        # Only the failed probes are asked again, all of them in one command.
        again = [i for i, c in enumerate(checks) if not c.ok]
        for i, answer in zip(again, _ask([asked[i] for i in again])):
            target, probe = asked[i]
            checks[i] = judge(target.label, target.settings, probe, answer)
    return checks, names


@dataclass(frozen=True)
class _Plan:
    """Every probe of a host's verification and where they go (``_plan``)."""

    asked: list
    pool_slices: dict
    own: int
    # Which retired values it refuses (a plan is used for these only): a digest, so that no
    # printed plan (a repr in a traceback) can show a value.
    refused: str = field(repr=False)


# This run's plans made with the host-state read, (id of the pyinfra state, host name) ->
# _Plan: its answers are judged against the same probes (the wrong value is random).
_plans: dict[tuple[int, str], _Plan] = {}


def _key() -> tuple[int, str]:
    return (id(getattr(host, "state", None)), host.name)


def _plan(cfg: HostConfig, retired) -> _Plan:
    """The probes of ``cfg``'s verification: a gateway's backends first (each as the
    gateway reaches it: service credential in, none out), then the host itself."""
    s = cfg.settings
    insecure = s.proxy_tls != "off"
    asked: list[tuple[_Target, Probe]] = []
    pool_slices: dict[str, slice] = {}
    if cfg.gateway is not None:
        pool = cfg.gateway.pool
        # TLS backends: checked against the gateway's own trust bundle, by name.
        bundle = layout_of(s).proxy_file(BACKEND_CA_FILENAME)
        for backend, b_cfg in zip(pool.backends, cfg.gateway.backends):
            target = _Target(f"{host.name} -> backend {backend.name}", b_cfg.settings,
                             backend_url(backend, pool.tls), insecure=False,
                             tls=(bundle, backend_resolve(backend)) if pool.tls else ())
            start = len(asked)
            asked += [(target, p) for p in backend_probes(cfg.gateway.service)]
            pool_slices[backend.name] = slice(start, len(asked))
    own = len(asked)
    itself = _Target(host.name, s, base_url(s), insecure)
    refused = _flatten(retired)
    asked += [(itself, p) for p in plan(s, cfg.credentials, refused)]
    return _Plan(asked, pool_slices, own, _refused_digest(refused))


def _refused_digest(refused) -> str:
    return hashlib.sha256("\0".join(r.reveal() for r in refused).encode()).hexdigest()


def _batch(asked: Sequence[tuple[_Target, Probe]], max_time: int | None = None) -> tuple[list[str], object]:
    """What is asked (for output, no secret) and the curl config on stdin (secret); with
    ``max_time``, no request takes longer than that."""
    requests = [f"{p.method} {t.url}{p.path}" for t, p in asked]
    stdin = curl_batch_config([
        (p.method, t.url + p.path, p.body, min(p.max_time, max_time or p.max_time), t.insecure,
         p.auth.reveal() if p.auth else None, *t.tls)
        for t, p in asked
    ])
    return requests, stdin


def probes_with_the_read(cfg: HostConfig) -> dict:
    """The verification's probes, for ``snapshot.declare``: asked by the host-state read,
    under the deploy lock, at the same time as its other sections (``probes``,
    ``probes_names_file``; the curl config as ``stdin``, never on a command line).

    When the run then changes nothing on the host, those answers are the verification
    (``endpoint``): the endpoint is proven as the run leaves it, without a command more.
    Otherwise (something changed, or a check failed) the host is asked again at the end,
    as before, with the retries of a proxy that has just reloaded. No request of the read
    takes longer than READ_MAX_TIME."""
    plan_ = _plans[_key()] = _plan(cfg, _retired(cfg))
    requests, stdin = _batch(plan_.asked, READ_MAX_TIME)
    mode = auth.mode_of(cfg.settings)
    return {"probes": requests, "probes_names_file": layout_of(cfg.settings).auth_file(mode.credential_file),
            "stdin": stdin}


def _unchanged_so_far(also: Iterable[str] = ()) -> bool:
    """No operation of this host, nor of the hosts named ``also`` that are in this run, has
    changed anything so far (all that ran succeeded with no command); False outside a
    pyinfra run."""
    ops = getattr(host.state, "ops", None)
    if not isinstance(ops, dict) or host not in ops:
        return False
    names = {host.name, *also}
    for each, by_hash in ops.items():
        if getattr(each, "name", None) not in names:
            continue
        for data in by_hash.values():
            meta = data.operation_meta
            if meta.is_complete() and (not meta.did_succeed() or meta.did_change()):
                return False
    return True


def _from_the_read(asked: Sequence[tuple[_Target, Probe]]):
    """``(checks, names)`` from the answers the host-state read got for these probes, when
    every check passed; else None (the host is asked again)."""
    answer = snapshot.state().get("endpoint")
    if not isinstance(answer, dict) or len(answer.get("answers") or []) != len(asked):
        return None
    checks = [judge(t.label, t.settings, p, a) for (t, p), a in zip(asked, answer["answers"])]
    return (checks, answer.get("names")) if all(c.ok for c in checks) else None


@operation()
def endpoint(cfg: HostConfig, retired: Mapping[str, Sequence[Secret]] | Iterable[Secret] = (),
             report_path: str | None = None):
    """
    Prove the endpoint from the host itself, once the deploy has run: each credential gets
    200 on ``/api/tags`` listing the models, a random wrong one and none get 401 with the
    right challenge, every retired value gets 401, ``/api/pull`` gets 403, and (with
    ``verify_generate``) one short ``/api/generate`` returns text. Failed checks are asked
    again for a few seconds, then the host fails with one message per check (host, check,
    credential name, expected and actual status). Nothing changes on the host: a
    successful verification is a no-change operation.

    When deploy.py had these probes asked with the host-state read
    (``probes_with_the_read``) and no operation of this run has changed anything on the
    host (for a gateway, on its backends either), the read's answers are judged, with no
    command, if every check passes; otherwise the host is asked now, as above.

    + cfg: the host's checked config (``config_for_host``)
    + retired: ``SecretsFile.retired`` (or its values): old values that must be refused
    + report_path: JSON report for CI; default ``$OLLAMA_GATE_REPORT``, else ``verify_report``

    **Example:**

    .. code:: python

        verify.endpoint(name="Verify the endpoint: credentials in, everyone else out.",
                        cfg=cfg, retired=load_secrets().retired)
    """
    if not host.state.is_executing:
        # Preparing: the stack may not run yet, so nothing can be proven; nothing changes.
        host.noop("the endpoint is verified once the deploy has run")
        return

    s = cfg.settings
    url = base_url(s)
    # The plan the host-state read asked (deploy.py), if made for these retired values.
    read_plan = _plans.pop(_key(), None)
    if read_plan is not None and read_plan.refused != _refused_digest(_flatten(retired)):
        read_plan = None
    plan_ = read_plan or _plan(cfg, retired)
    asked, pool_slices, own = plan_.asked, plan_.pool_slices, plan_.own
    # What the host's credential file holds (names only), beside what is wanted: read by
    # the same command as the probes.
    mode = auth.mode_of(s)
    file_path = layout_of(s).auth_file(mode.credential_file)
    wanted = mode.file_entries(cfg.credentials)
    # A gateway's answers include its backends': they too must be as the read found them.
    unchanged = _unchanged_so_far(b.name for b in cfg.gateway.pool.backends) if cfg.gateway else _unchanged_so_far()
    early = _from_the_read(asked) if unchanged and read_plan is not None else None
    if early is not None:
        all_checks, live = early
    else:
        all_checks, live = _settled(asked, file_path)
    backend_checks = {name: all_checks[where] for name, where in pool_slices.items()}
    checks = all_checks[own:]
    checks.append(judge_names(host.name, file_path, wanted, live))

    address = host.data.get("ssh_hostname") or host.name
    lines = summary(host.name, str(address), s, cfg.credentials)
    live_text = ", ".join(sorted(live)) if live is not None else "no credential file"
    lines.append(f"Credentials:     on the host: {live_text or 'none'}; wanted: {', '.join(sorted(wanted)) or 'none'}"
                 + (f"; revoked: {', '.join(cfg.revoked)}" if cfg.revoked else ""))
    if cfg.gateway is not None:
        lines += pool_summary(cfg.gateway.pool, {n: backend_state(c) for n, c in backend_checks.items()})
        checks = [c for name in backend_checks for c in backend_checks[name]] + checks
    cert = None
    if s.proxy_tls != "off":
        # As the read found it when nothing changed since (the TLS operation makes it).
        cert = (snapshot.known if unchanged else snapshot.fresh)(Certificate, path=layout_of(s).tls_cert)
    lines += tls.summary_lines(s, cert, tls.trust_file(host.name) if s.proxy_tls == "self-signed" else None)
    failed = [c for c in checks if not c.ok]
    # The result is said first: a report that cannot be written must not hide it.
    if failed:
        for c in failed[:-1]:
            host.log_styled(f"verification failed: {c.message()}", fg="red", log_func=logger.error)
    else:
        when = " (asked with the host's state read: this run changed nothing on the host)" if early else ""
        host.log_styled(f"endpoint verified: {len(checks)} checks passed{when}; verified at {url} "
                        "(from the host itself; clients use the Base URL below)", fg="green")
        for line in lines:
            host.log(f"  {line}")

    path = report_path_for(s, report_path)
    report_error = None
    if path is not None:
        entry = host_report(host.name, s, checks, lines, credentials_entry(wanted, live, cfg.revoked),
                            address=str(address))
        if cfg.gateway is not None:
            entry["role"] = "gateway"
            entry["backends"] = backends_report(cfg.gateway.pool, cfg.gateway.pool.tls, backend_checks)
        try:
            _write_report(path, host.name, entry)
            host.log(f"verification report written to {path}", logger.error if failed else logger.info)
        except OSError as e:
            report_error = f"verify_report: the report could not be written to {str(path)!r} ({e.strerror or e})"

    if failed:
        if report_error:
            host.log_styled(report_error, fg="red", log_func=logger.error)
        # The other hosts still finish their own verification.
        yield from fail_host(f"verification failed: {failed[-1].message()}")
        return
    if report_error:
        yield from fail_host(f"endpoint verified, but {report_error}")
        return
    outcomes.verified(host.name, lines[0].split(":", 1)[1].strip())
    host.noop(f"endpoint verified ({len(checks)} checks)")


def _retired(cfg: HostConfig):
    """The values ``cfg``'s endpoint must refuse: the config's, else the secrets file's
    retired and expired ones."""
    retired = cfg.refused
    if retired is None:
        secrets = load_secrets(secrets_path(), cfg.settings.auth_password_min_length)
        retired = secrets.refused()
    return retired


def verified(cfg: HostConfig, report_path: str | None = None):
    """Verify ``cfg``'s endpoint, with the retired and expired values of the secrets file: the call
    deploy.py ends with and verify.py consists of."""
    return endpoint(
        name="Verify the endpoint: each credential in, wrong, missing and retired ones out.",
        cfg=cfg, retired=_retired(cfg), report_path=report_path,
    )
