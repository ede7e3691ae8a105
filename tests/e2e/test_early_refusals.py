"""Bad input refused before any host changes, with host, setting and why (#14 items 5, 6):
provided TLS files that cannot serve, a docker_users name the host lacks, a report path
that cannot be written, a secrets path that is a directory or not UTF-8, a host whose
groups disagree on auth_mode; and --data keys nothing reads, warned about."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from ollama_gate import PROJECT_DIR

from . import faults
from .conftest import PYINFRA, Run, deploy
from .test_deploy import stack_files
from tests.certs import tls_pair


@pytest.fixture
def unchanged(deployed):
    """The lab's stack files before the test; asserts after it that none changed."""
    lab = deployed["lab"]
    before = [stack_files(lab, i) for i in range(len(lab["hosts"]))]
    yield lab
    assert [stack_files(lab, i) for i in range(len(lab["hosts"]))] == before


def refused(run: Run, *messages: str) -> None:
    assert run.returncode != 0, run.output[-3000:]
    for message in messages:
        assert message in run.output, f"{message!r} not in:\n{run.output[-3000:]}"
    assert run.changed() == {}, run.changed()


def timed(*args, **kwargs) -> tuple[Run, float]:
    started = time.monotonic()
    run = deploy(*args, **kwargs)
    return run, time.monotonic() - started


def test_provided_tls_files_that_cannot_serve_are_refused(unchanged, tmp_path, request):
    host = unchanged["hosts"][0]["name"]
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    (tmp_path / "key.pem").write_text("not a key\n")
    tls = ("--data", "proxy_tls=provided", "--data", f"proxy_tls_cert={tmp_path / 'cert.pem'}",
           "--data", f"proxy_tls_key={tmp_path / 'key.pem'}")
    run, took = timed("--limit", host, *tls)
    refused(run, "no host was changed",
            f"{host}: proxy_tls_cert: '{tmp_path / 'cert.pem'}' is not a usable certificate",
            f"{host}: proxy_tls_key: '{tmp_path / 'key.pem'}' is not a PEM private key")
    # A real certificate with the key of another one.
    tls_pair(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    tls_pair(other)
    (tmp_path / "key.pem").write_bytes((other / "key.pem").read_bytes())
    mismatched = deploy("--limit", host, *tls)
    refused(mismatched, f"{host}: proxy_tls_key: the key in '{tmp_path / 'key.pem'}' does not belong to "
                        f"the certificate in '{tmp_path / 'cert.pem'}'")
    faults.record(request, item="14.5", tried='`proxy_tls = "provided"` with files that are not PEM, and '
                  "with the key of another certificate", holds="refused on this machine, naming host, "
                  "setting and file, before any host changes (was: a proxy restart loop, then a wrong "
                  "\"nginx -t failed\" after 168 s)", seconds=took, how="refused before any change")


def test_docker_users_naming_a_user_the_host_lacks(unchanged, request):
    host = unchanged["hosts"][0]["name"]
    run, took = timed("--limit", host, "--data", 'docker_users=["nosuchuser"]')
    refused(run, f"[{host}] docker_users: no user 'nosuchuser' on this host; create it first or "
                 "remove it from docker_users")
    assert "usermod" not in run.output
    faults.record(request, item="14.6", tried='`docker_users = ["nosuchuser"]`', holds="the host fails "
                  "at its first operation naming the user and the setting (a fact asks the host); "
                  "nothing changes", seconds=took, how="refused before any change")


def test_a_report_path_that_cannot_be_written(unchanged, request):
    run, took = timed("--data", "verify_report=/etc/hostname/report.json")
    refused(run, "no host was changed",
            *(f"{h['name']}: verify_report: cannot write the report to '/etc/hostname/report.json': "
              "'/etc/hostname' is not a directory" for h in unchanged["hosts"]))
    faults.record(request, item="14.6", tried="`verify_report` at a path that cannot be written",
                  holds="refused before any host changes (was: a traceback after the deploy, the "
                  "verification result never printed)", seconds=took, how="refused before any change")


def test_a_secrets_path_that_is_a_directory_or_not_utf8(unchanged, tmp_path, request):
    run, took = timed(secrets=tmp_path)
    refused(run, "no host was changed",
            f"OLLAMA_GATE_SECRETS: '{tmp_path}' is a directory; give the path of the secrets YAML file itself")
    latin1 = tmp_path / "secrets.yml"
    latin1.write_bytes(b"users:\n  lab-user-1: \"caf\xe9-latin-1-password-0123456789\"\n")
    run = deploy(secrets=latin1)
    refused(run, "no host was changed",
            f"OLLAMA_GATE_SECRETS: the secrets file '{latin1}' is not UTF-8 text (line 2, column 19)")
    assert "caf" not in run.output  # the file's content is never quoted
    faults.record(request, item="14.6", tried="a directory, or a Latin-1 file, as the secrets file",
                  holds="refused before any host changes, saying which (was: a traceback, or \"does not "
                  "exist\")", seconds=took, how="refused before any change")


def test_a_host_in_a_basic_and_a_bearer_group_is_refused(unchanged, tmp_path, request):
    lab = unchanged
    host = lab["hosts"][0]
    inventory = tmp_path / "two_groups.py"
    inventory.write_text(
        "import runpy\n"
        f"lab = runpy.run_path({str(PROJECT_DIR / 'inventory' / 'lab.py')!r})\n"
        f"name, data = next(h for h in lab['lab_basic'] + lab['lab_bearer'] if h[0] == {host['name']!r})\n"
        "data = {k: v for k, v in data.items() if k not in ('auth_mode', 'auth_credentials')}\n"
        "gpu_users = ([(name, data)], {'auth_mode': 'basic'})\n"
        "ci_keys = ([(name, data)], {'auth_mode': 'bearer'})\n")
    started = time.monotonic()
    proc = subprocess.run([PYINFRA, "-y", str(inventory), "deploy.py"], cwd=PROJECT_DIR, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    took = time.monotonic() - started
    run = Run(proc.returncode, proc.stdout + proc.stderr)
    refused(run, "no host was changed",
            f"{host['name']}: auth_mode: the host is in groups that disagree (gpu_users sets 'basic', "
            "ci_keys sets 'bearer')")
    faults.record(request, item="14.6", tried="one host in a group with `auth_mode = \"basic\"` and one with "
                  "\"bearer\"", holds="refused before any host changes, naming host, setting and both groups "
                  "(was: silently switched by group order)", seconds=took, how="refused before any change")


def test_data_keys_nothing_reads_are_warned_about(deployed, request):
    host = deployed["lab"]["hosts"][0]["name"]
    run, took = timed("--dry", "--limit", host, "--data", "model=gemma3:1b", "--data", "verify=false", yes=False)
    assert run.returncode == 0, run.output[-3000:]
    assert ("--data model: not an ollama-gate setting, and pyinfra does not use it either: it is ignored; "
            "did you mean models?") in run.output
    assert "--data verify: not an ollama-gate setting" in run.output
    faults.record(request, item="14.6", tried="`--data model=...`, `--data verify=false` (keys nothing reads)",
                  holds="a warning names each key and the closest setting (was: silently ignored)",
                  seconds=took, how="warned before the run")


def test_report_path_problem_and_report_written(deployed, tmp_path):
    """The report still says every host (a JSON file) when its path is fine."""
    report = tmp_path / "deep" / "report.json"
    run = deploy("--data", f"verify_report={report}")
    assert run.returncode == 0, run.output[-3000:]
    assert json.loads(report.read_text())["ok"] is True
