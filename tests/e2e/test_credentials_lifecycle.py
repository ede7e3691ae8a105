"""The credential lifecycle on the lab (issue #10): a removed name the inventory still
lists deploys as revoked, keys expire at the edge at their second with no rerun, expired
users go with the next rerun, the CLI keeps the secrets file as written, and `check`
shows the access matrix and its warnings without connecting.

Each test works on a copy of the lab's secrets and an inventory that adds names to the
lab's own (written to tmp_path, importing inventory/lab.py); `secrets_copy` deploys the
lab's own secrets again afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

from ollama_gate import PROJECT_DIR
from ollama_gate.secrets_file import load_secrets

from .conftest import PYINFRA, Run, ssh
from .helpers import all_secret_values, auth_header, cli, containers, status_of

OLLAMA_GATE = str(PROJECT_DIR / ".venv" / "bin" / "ollama-gate")


def lab_inventory(tmp_path: Path, names: dict[str, list[str]]) -> Path:
    """inventory/lab.py with ``names[auth_mode]`` as the auth_credentials of that mode's hosts."""
    path = tmp_path / "lab_names.py"
    path.write_text(
        "import runpy\n"
        f"_lab = runpy.run_path({str(PROJECT_DIR / 'inventory' / 'lab.py')!r})\n"
        "lab_basic, lab_bearer = _lab['lab_basic'], _lab['lab_bearer']\n"
        f"_names = {names!r}\n"
        "for _mode, _group in (('basic', lab_basic), ('bearer', lab_bearer)):\n"
        "    for _name, _data in _group:\n"
        "        if _mode in _names:\n"
        "            _data['auth_credentials'] = _names[_mode]\n")
    return path


def deploy_with(inventory: Path, secrets: Path, *args: str, report: Path | None = None) -> Run:
    env = dict(os.environ, OLLAMA_GATE_LAB_SECRETS=str(secrets))
    if report is not None:
        env["OLLAMA_GATE_REPORT"] = str(report)
    proc = subprocess.run([PYINFRA, "-y", *args, str(inventory), "deploy.py"], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    return Run(proc.returncode, proc.stdout + proc.stderr)


def index_of(lab, mode: str) -> int:
    return next(i for i, h in enumerate(lab["hosts"]) if h["auth_mode"] == mode)


def own(lab, mode: str) -> str:
    return lab["hosts"][index_of(lab, mode)]["credentials"][0]["name"]


def value(secrets: Path, mode: str, name: str) -> str:
    return load_secrets(secrets, 12).section(mode)[name].reveal()


def checks_of(report: Path, host: str) -> list[dict]:
    return json.loads(report.read_text())["hosts"][host]["checks"]


DECORATION = """\
# Team secrets: never in git.   (a comment the CLI must keep)
---
"""


def test_removed_user_still_listed_is_deployed_revoked(deployed, secrets_copy, tmp_path):
    lab = deployed["lab"]
    b = index_of(lab, "basic")
    host = lab["hosts"][b]
    url = host["proxy_url"] + "/api/tags"
    # The file as a person keeps it: comments, odd quoting, an entry with an expiry.
    original = secrets_copy.read_text()
    secrets_copy.write_text(DECORATION + original.replace("users:\n", "users:   # HTTP Basic\n", 1)
                            + "# trailing note\n")
    decorated = secrets_copy.read_text()
    bob = cli(secrets_copy, "new-user", "e2e-bob")
    cli(secrets_copy, "new-key", "e2e-spare", "--expires", "30d")
    inventory = lab_inventory(tmp_path, {"basic": [own(lab, "basic"), "e2e-bob"]})

    first = deploy_with(inventory, secrets_copy, "--limit", host["name"])
    assert first.returncode == 0, first.output[-4000:]
    assert status_of(url, auth_header("basic", "e2e-bob", bob)) == 200
    before = containers(lab, b)

    cli(secrets_copy, "remove", "e2e-bob")  # and no inventory edit
    cli(secrets_copy, "rotate", "e2e-spare")
    after_cli = secrets_copy.read_text()
    untouched = [line for line in decorated.splitlines() if "e2e-" not in line]
    assert [line for line in untouched if line not in after_cli.splitlines()] == []

    report = tmp_path / "report.json"
    rerun = deploy_with(inventory, secrets_copy, "--limit", host["name"], report=report)
    assert rerun.returncode == 0, rerun.output[-4000:]
    assert (f"'e2e-bob' was removed (retired), but the inventory still lists it in auth_credentials of "
            f"{host['name']}") in rerun.output
    assert status_of(url, auth_header("basic", "e2e-bob", bob)) == 401
    other = own(lab, "basic")
    assert status_of(url, auth_header("basic", other, value(secrets_copy, "basic", other))) == 200
    assert containers(lab, b) == before  # no container re-created or restarted
    assert list(rerun.changed()) == ["Write the credential file of the auth mode (names only in output, never values)."]

    entry = json.loads(report.read_text())["hosts"][host["name"]]
    assert entry["ok"] and entry["credentials"]["revoked"] == ["e2e-bob"]
    assert entry["credentials"]["live"] == [other] == entry["credentials"]["wanted"]
    refused = [c for c in entry["checks"] if c["check"] == "retired-credential-refused"
               and c["credential"].startswith("e2e-bob ")]
    # 401, or 429 once this address is past auth_fail_limit: only failed authentications
    # reach the limit (location @denied), and the read and the end of a changing run each
    # send the refusal requests, so the module's earlier tests can have used the budget up.
    assert refused and all(c["ok"] and c["actual"].split()[0] in ("401", "429") for c in refused)
    names = ssh(lab, b, "cut -d: -f1 /opt/ollama-gate/auth/htpasswd").stdout
    assert "e2e-bob" not in names and other in names
    assert not [v for v in all_secret_values(secrets_copy) if v in rerun.output + report.read_text()]


def test_keys_expire_at_the_edge_and_users_with_the_next_rerun(deployed, secrets_copy, tmp_path):
    lab = deployed["lab"]
    b, k = index_of(lab, "basic"), index_of(lab, "bearer")
    basic_url = lab["hosts"][b]["proxy_url"] + "/api/tags"
    bearer_url = lab["hosts"][k]["proxy_url"] + "/api/tags"
    # A minute and a half ahead: the deploy of both hosts must finish before it.
    expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=90)).replace(microsecond=0)
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    key = cli(secrets_copy, "new-key", "e2e-expiring", "--expires", stamp)
    user = cli(secrets_copy, "new-user", "e2e-temp", "--expires", stamp)
    inventory = lab_inventory(tmp_path, {"basic": [own(lab, "basic"), "e2e-temp"],
                                         "bearer": [own(lab, "bearer"), "e2e-expiring"]})
    first = deploy_with(inventory, secrets_copy)
    assert first.returncode == 0, first.output[-4000:]
    assert "'e2e-expiring' (keys:) expires " in first.output  # within 14 days: a warning
    assert time.time() < expires.timestamp() - 2, "the deploy took longer than the expiry allowed"
    line = ssh(lab, k, "grep '^e2e-expiring:' /opt/ollama-gate/auth/keys.sha256").stdout.strip()
    assert line.endswith(f":{int(expires.timestamp())}") and key not in line

    key_header = auth_header("bearer", "e2e-expiring", key)
    other_key = auth_header("bearer", own(lab, "bearer"), value(secrets_copy, "bearer", own(lab, "bearer")))
    user_header = auth_header("basic", "e2e-temp", user)
    assert status_of(bearer_url, key_header) == 200 and status_of(basic_url, user_header) == 200
    # Ask every 0.1 s from 3 s before the expiry to 3 s after it; nothing is rerun.
    time.sleep(max(0.0, expires.timestamp() - 3 - time.time()))
    answers = []
    while time.time() < expires.timestamp() + 3:
        answers.append((round(time.time() - expires.timestamp(), 2), status_of(bearer_url, key_header)))
        time.sleep(0.1)
    last_200 = max(t for t, s in answers if s == 200)
    first_401 = min(t for t, s in answers if s == 401)
    print(f"key expiry at the edge: last 200 at {last_200:+.2f}s, first 401 at {first_401:+.2f}s")
    assert last_200 < 0.05 and 0 <= first_401 <= 2.0, answers
    # Refused from then on (429 once the failed-authentication rate limit counts the 401s).
    assert all(s in (401, 429) for t, s in answers if t >= first_401), answers
    assert status_of(bearer_url, other_key) == 200
    # nginx's auth_basic has no expiry: the user still gets in until the next rerun...
    assert status_of(basic_url, user_header) == 200

    report = tmp_path / "report.json"
    rerun = deploy_with(inventory, secrets_copy, report=report)
    assert rerun.returncode == 0, rerun.output[-4000:]
    # ...which leaves it out, proves it refused, and says so.
    assert status_of(basic_url, user_header) == 401 and status_of(bearer_url, key_header) in (401, 429)
    assert f"'e2e-temp' (users:) expired on {stamp}: not deployed, proved to get 401" in rerun.output
    data = json.loads(report.read_text())
    for index, name in ((b, "e2e-temp"), (k, "e2e-expiring")):
        entry = data["hosts"][lab["hosts"][index]["name"]]
        assert entry["ok"] and name not in entry["credentials"]["live"] and name in entry["credentials"]["revoked"]
        refused = [c for c in entry["checks"] if c["check"] == "retired-credential-refused"
                   and c["credential"].startswith(name + " ")]
        assert refused and all(c["ok"] for c in refused), entry["checks"]


def test_check_shows_matrix_and_warnings_without_connecting(deployed, secrets_copy, tmp_path):
    lab = deployed["lab"]
    cli(secrets_copy, "new-user", "e2e-carol")  # assigned to no host
    cli(secrets_copy, "new-key", "e2e-gone")
    cli(secrets_copy, "remove", "e2e-gone")
    inventory = lab_inventory(tmp_path, {"bearer": ["e2e-gone"]})  # a host with no valid credential
    env = dict(os.environ, OLLAMA_GATE_LAB_SECRETS=str(secrets_copy))
    started = time.monotonic()
    r = subprocess.run([OLLAMA_GATE, "check", str(inventory)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    took = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    bearer_host = lab["hosts"][index_of(lab, "bearer")]["name"]
    assert "warning: 'e2e-carol' (users:) is assigned to no host" in r.stderr
    assert f"warning: {bearer_host}: has no valid credential (auth_credentials lists only revoked names: e2e-gone)" \
        in r.stderr
    rows = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines() if line.startswith("  ")}
    hosts = [h["name"] for h in lab["hosts"]]
    assert rows["credential"] == ["in", "expires", *hosts]
    assert rows["e2e-carol"][:2] == ["users", "-"] and set(rows["e2e-carol"][2:]) == {"-"}
    assert rows["e2e-gone"] == ["retired", "removed", *["revoked" if h == bearer_host else "-" for h in hosts]]
    print(f"check of {len(hosts)} lab hosts: {took:.1f}s")
    assert not [v for v in all_secret_values(secrets_copy) if v in r.stdout + r.stderr]
