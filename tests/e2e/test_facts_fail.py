"""A fact that cannot ask fails the host with the real reason (#14 item 7): with /tmp full,
`docker exec` fails on the host, and the models fact must not read that as "no models".

The models fact asks Ollama's /api/tags from the host first (nsenter + the host's curl: no
process in the container, so a full /tmp does not stop it) and runs `ollama list` in the
container only when that cannot be done. So the test proves both: with /tmp full the
models are still read (the rerun changes nothing); with the host's curl gone too, the fact
falls back to `docker exec`, which fails, and the host fails naming that reason."""

from __future__ import annotations

import time

from . import faults
from .conftest import deploy, ssh
from .test_deploy import host_of_mode

FILL_TMP = ("mount -o remount,size=2m /tmp && dd if=/dev/zero of=/tmp/ollama-gate-e2e-fill bs=64k "
            "2>/dev/null; df --output=avail /tmp | tail -n 1")
FREE_TMP = "rm -f /tmp/ollama-gate-e2e-fill; mount -o remount,size=50% /tmp"
HIDE_CURL = "mv /usr/bin/curl /usr/bin/curl.ollama-gate-e2e"
RESTORE_CURL = "[ ! -e /usr/bin/curl.ollama-gate-e2e ] || mv -f /usr/bin/curl.ollama-gate-e2e /usr/bin/curl"


def test_models_fact_that_cannot_ask_fails_the_host_and_pulls_nothing(deployed, request):
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    size = ssh(lab, index, "findmnt -no OPTIONS /tmp").stdout
    assert "size=" in size, f"the lab host's /tmp is not a tmpfs: {size}"
    try:
        assert ssh(lab, index, FILL_TMP).stdout.strip() == "0"
        exec_fails = ssh(lab, index, "docker exec ollama-gate-ollama ollama list")
        assert "no space left on device" in exec_fails.stdout + exec_fails.stderr  # the fault, as the host sees it
        # Ollama is asked from the host: a full /tmp does not keep the models from being read.
        read = deploy("--limit", host["name"])
        assert read.returncode == 0 and read.changed() == {}, read.output[-3000:]
        assert "Pulling models" not in read.output
        # Without the host's curl, only `docker exec ... ollama list` can ask, and it fails.
        assert ssh(lab, index, HIDE_CURL).returncode == 0
        run = deploy("--limit", host["name"])
    finally:
        ssh(lab, index, RESTORE_CURL)
        ssh(lab, index, FREE_TMP)
    assert run.returncode != 0, run.output[-3000:]
    assert "models: cannot ask Ollama which models it has" in run.output, run.output[-3000:]
    assert "no space left on device" in run.output
    assert "ollama pull" not in run.output and "Pulling models" not in run.output

    started = time.monotonic()
    rerun = deploy("--limit", host["name"])
    took = time.monotonic() - started
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert rerun.changed() == {}, rerun.changed()
    assert "endpoint verified" in rerun.output
    faults.record(request, item="14.7", tried="/tmp full on the host: `docker exec` fails (OCI runtime "
                  "exec failed: no space left on device); then also the host's curl removed",
                  holds="with /tmp full the models are still read from Ollama's API (no change); without "
                  "curl the fact falls back to `docker exec` and the host fails naming its reason; "
                  "no model is pulled or removed; once /tmp has room the rerun changes nothing and verifies",
                  seconds=took, how="rerun once /tmp has room")
