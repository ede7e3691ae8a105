"""Verification after every deploy, rotation without downtime, broken endpoints caught.

Rotation runs on a copy of the lab's secrets with `auth_credentials=[]` (every user of the
copy on the basic host, every key on the bearer host); the module ends by deploying the
lab's own secrets again, so the lab is left as it was found.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

from ollama_gate.secrets_file import load_secrets

from .conftest import ssh
from .helpers import (RequestLoop, all_secret_values, auth_header, cli, containers, credential_emptier, run,
                      status_of)

ALL_CREDENTIALS = ("--data", "auth_credentials=[]")
CHECKS = {"credential-accepted", "wrong-credential-refused", "no-credential-refused", "admin-route-forbidden",
          "generate-returns-text", "credential-file-names"}


@pytest.fixture(scope="module", autouse=True)
def restore_lab(lab):
    yield
    restored = run()
    assert restored.returncode == 0, restored.output[-4000:]


def mode_index(lab, mode):
    return next(i for i, h in enumerate(lab["hosts"]) if h["auth_mode"] == mode)


def value(secrets_path, mode, name):
    return load_secrets(secrets_path, 12).section(mode)[name].reveal()


def test_deploy_verifies_every_host_and_reports_for_ci(deployed, tmp_path):
    lab = deployed["lab"]
    report = tmp_path / "report.json"
    started = time.monotonic()
    result = run(report=report)
    took = time.monotonic() - started
    assert result.returncode == 0, result.output[-4000:]
    assert result.changed() == {}, result.changed()  # the verification is not a change
    print(f"no-change rerun with verification: {took:.1f}s")

    data = json.loads(report.read_text())
    assert data["ok"] is True and data["not_verified"] == []
    assert sorted(data["hosts"]) == sorted(h["name"] for h in lab["hosts"])
    for h in lab["hosts"]:
        entry = data["hosts"][h["name"]]
        assert entry["ok"] and entry["failed"] == 0 and entry["auth_mode"] == h["auth_mode"]
        assert {c["check"] for c in entry["checks"]} == CHECKS
        accepted = [c for c in entry["checks"] if c["check"] == "credential-accepted"]
        assert [c["credential"] for c in accepted] == [c["name"] for c in h["credentials"]]
        assert all(c["actual"] == "200" and "gemma3:1b" in c["detail"] for c in accepted)
        assert entry["model"] == "gemma3:1b"
        # The live names in the host's credential file, beside the wanted ones.
        names = [c["name"] for c in h["credentials"]]
        assert entry["credentials"] == {"wanted": names, "live": names, "revoked": [], "expires": {}}
        assert f"[{h['name']}]   Credentials:     on the host: {', '.join(names)}; wanted: {', '.join(names)}" \
            in result.output
        # The ThingsBoard summary, in the report and in the output.
        auth = "Basic" if h["auth_mode"] == "basic" else "Token"
        assert f"[{h['name']}]   Authentication:  {auth}" in result.output
        assert f"[{h['name']}]   Model ID:        gemma3:1b" in result.output
        assert f"[{h['name']}]   Base URL:        http://" in result.output
    text = report.read_text() + result.output
    assert not [v for v in all_secret_values(lab["secrets_file"]) if v in text]


def test_rotation_changes_only_credential_files_with_no_failed_request(deployed, tmp_path):
    lab = deployed["lab"]
    basic, bearer = mode_index(lab, "basic"), mode_index(lab, "bearer")
    secrets = tmp_path / "secrets.yml"
    shutil.copy(lab["secrets_file"], secrets)
    for name in ("keep", "change", "remove"):
        cli(secrets, "new-user", f"e2e-user-{name}")
        cli(secrets, "new-key", f"e2e-key-{name}")
    first = run(*ALL_CREDENTIALS, secrets=secrets)
    assert first.returncode == 0, first.output[-4000:]

    # Clients that keep their credentials: the lab's own and one added above, per host.
    targets = []
    for index, mode, kept in ((basic, "basic", "e2e-user-keep"), (bearer, "bearer", "e2e-key-keep")):
        host = lab["hosts"][index]
        for name in (host["credentials"][0]["name"], kept):
            targets.append((f"{host['name']}/{name}", host["proxy_url"] + "/api/tags",
                            auth_header(mode, name, value(secrets, mode, name))))
    old = {(m, n): value(secrets, m, n) for m, n in (("basic", "e2e-user-change"), ("basic", "e2e-user-remove"),
                                                      ("bearer", "e2e-key-change"), ("bearer", "e2e-key-remove"))}
    before = [containers(lab, i) for i in range(len(lab["hosts"]))]

    added_user = cli(secrets, "new-user", "e2e-user-added")
    added_key = cli(secrets, "new-key", "e2e-key-added")
    changed_user = cli(secrets, "rotate", "e2e-user-change")
    changed_key = cli(secrets, "rotate", "e2e-key-change")
    cli(secrets, "remove", "e2e-user-remove")
    cli(secrets, "remove", "e2e-key-remove")

    report = tmp_path / "report.json"
    with RequestLoop(targets, max_requests=20000, max_seconds=300) as loop:
        time.sleep(1)  # the loop is running before the rerun starts
        started = time.monotonic()
        rerun = run(*ALL_CREDENTIALS, secrets=secrets, report=report)
        took = time.monotonic() - started
        time.sleep(1)
    print(f"rotation rerun {took:.1f}s; request loop: {loop.total} requests {loop.counts}, "
          f"{len(loop.failures)} failed {loop.failures[:5]}")
    assert rerun.returncode == 0, rerun.output[-4000:]
    assert loop.failures == []
    assert loop.total >= 4 * 20, loop.counts

    # Only the credential files changed; no container was re-created or restarted.
    changed = rerun.changed()
    assert changed and all("credential file" in name for name in changed), changed
    assert [containers(lab, i) for i in range(len(lab["hosts"]))] == before

    # Right after the run: new values in, replaced and removed ones out.
    b, k = lab["hosts"][basic]["proxy_url"] + "/api/tags", lab["hosts"][bearer]["proxy_url"] + "/api/tags"
    assert status_of(b, auth_header("basic", "e2e-user-added", added_user)) == 200
    assert status_of(b, auth_header("basic", "e2e-user-change", changed_user)) == 200
    assert status_of(k, auth_header("bearer", "e2e-key-added", added_key)) == 200
    assert status_of(k, auth_header("bearer", "e2e-key-change", changed_key)) == 200
    assert status_of(b, auth_header("basic", "e2e-user-change", old["basic", "e2e-user-change"])) == 401
    assert status_of(b, auth_header("basic", "e2e-user-remove", old["basic", "e2e-user-remove"])) == 401
    assert status_of(k, auth_header("bearer", "e2e-key-change", old["bearer", "e2e-key-change"])) == 401
    assert status_of(k, auth_header("bearer", "e2e-key-remove", old["bearer", "e2e-key-remove"])) == 401

    # The deploy proved the same: retired values refused on each host, named in the report.
    data = json.loads(report.read_text())
    assert data["ok"], data
    for index, prefix in ((basic, "e2e-user"), (bearer, "e2e-key")):
        checks = data["hosts"][lab["hosts"][index]["name"]]["checks"]
        retired = {c["credential"].split()[0] for c in checks if c["check"] == "retired-credential-refused"}
        assert {f"{prefix}-change", f"{prefix}-remove"} <= retired
        assert all(c["ok"] for c in checks)
        accepted = {c["credential"] for c in checks if c["check"] == "credential-accepted"}
        assert {f"{prefix}-added", f"{prefix}-change", f"{prefix}-keep"} <= accepted
        assert f"{prefix}-remove" not in accepted
    assert not [v for v in all_secret_values(secrets) if v in report.read_text() + rerun.output]


def test_broken_endpoint_fails_the_run(deployed, tmp_path):
    lab = deployed["lab"]
    basic, bearer = mode_index(lab, "basic"), mode_index(lab, "bearer")
    report = tmp_path / "report.json"
    # 1. Credential files emptied by hand, again and again during the deploy (which rewrites
    #    them): the credentials that must get 200 are refused.
    emptiers = [credential_emptier(lab, index) for index in (basic, bearer)]
    try:
        broken = run(report=report)
    finally:
        for emptier in emptiers:
            emptier.stop()
    assert broken.returncode != 0, broken.output[-3000:]
    for index in (basic, bearer):
        h = lab["hosts"][index]
        # The names read back from the file catch it on every host...
        assert (f"{h['name']}: check credential-file-names failed for credential (all) (READ "
                "/opt/ollama-gate/auth/") in broken.output, broken.output[-3000:]
    # ...and nginx reads .htpasswd on every request, so the basic user is refused. (The Lua
    # check re-reads the key file once a second: a verification right after the deploy's
    # write can still meet the keys it loaded in between, so bearer's 200 is a race.)
    h = lab["hosts"][basic]
    assert (f"verification failed: {h['name']}: check credential-accepted failed for credential "
            f"{h['credentials'][0]['name']} (GET /api/tags): expected 200, got ") in broken.output
    data = json.loads(report.read_text())
    assert data["ok"] is False and not any(e["ok"] for e in data["hosts"].values())

    # 2. The proxy stopped: verification alone (a deploy would start it again) fails.
    host = lab["hosts"][basic]
    try:
        assert ssh(lab, basic, "docker stop ollama-gate-proxy").returncode == 0
        stopped = run("--limit", host["name"], verify_only=True)
    finally:
        healed = run()
    assert stopped.returncode != 0
    assert f"{host['name']}: check credential-accepted failed for credential {host['credentials'][0]['name']}" \
        in stopped.output
    assert "got no answer (curl exit" in stopped.output
    # The full deploy repairs both and proves it.
    assert healed.returncode == 0, healed.output[-3000:]
    assert healed.output.count("endpoint verified") == len(lab["hosts"])

