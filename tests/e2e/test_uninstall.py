"""uninstall.py on real lab hosts: deploy, uninstall (port free, nothing of the stack left,
models volume and Docker kept), uninstall again changes nothing, deploy again works without
pulling the kept models; then uninstall_models=True removes the volume too."""

from __future__ import annotations

import time

from .conftest import deploy, ssh
from .helpers import auth_header, lock_holder, status_of
from .test_deploy import credential

UNINSTALL = ("uninstall.py",)
PROJECT_FILTER = "--filter label=com.docker.compose.project=ollama-gate"


def leftovers(lab, index) -> dict[str, str]:
    """What of the gate a host still has, by kind (empty strings: nothing)."""
    return {
        "containers": ssh(lab, index, f"docker ps -aq {PROJECT_FILTER}").stdout.strip(),
        "networks": ssh(lab, index, f"docker network ls -q {PROJECT_FILTER}").stdout.strip(),
        "stack_dir": ssh(lab, index, "ls -A /opt/ollama-gate 2>&1 || true").stdout.strip()
        .replace("ls: cannot access '/opt/ollama-gate': No such file or directory", ""),
        "listener": ssh(lab, index, "ss -Htln 'sport = :8880'").stdout.strip(),
    }


def volumes(lab, index) -> str:
    return ssh(lab, index, f"docker volume ls -q {PROJECT_FILTER}").stdout.strip()


def test_uninstall_waits_for_the_hosts_lock_and_removes_nothing_without_it(deployed):
    """An uninstall while another run (a deploy) holds the host: refused before anything is
    removed, naming since when; the gate still answers."""
    lab = deployed["lab"]
    h = lab["hosts"][0]
    before = leftovers(lab, 0)
    assert before["containers"] and before["stack_dir"]
    # Another run's lock, held for 20 s by a shell on the host.
    holder = lock_holder(lab, 0, "2026-11-27T19:00:00Z from the test")
    try:
        time.sleep(2)
        refused = deploy("--limit", h["name"], files=UNINSTALL, env={"OLLAMA_GATE_LOCK_WAIT": "3"})
        assert refused.returncode != 0
        assert ("another run is working on this host since 2026-11-27T19:00:00Z from the test "
                "(waited 3 s for it to finish)") in refused.output
        assert refused.changed() == {}
        assert leftovers(lab, 0) == before
        name, value = credential(lab, h)
        assert status_of(h["proxy_url"] + "/api/tags", auth_header(h["auth_mode"], name, value)) == 200
    finally:
        holder.wait(timeout=60)


def test_uninstall_then_again_then_deploy_again(deployed):
    lab = deployed["lab"]
    first = deploy(files=UNINSTALL)
    assert first.returncode == 0, first.output[-3000:]
    assert "keeping the models volume" in first.output
    for index, host in enumerate(lab["hosts"]):
        assert leftovers(lab, index) == {"containers": "", "networks": "", "stack_dir": "", "listener": ""}
        assert volumes(lab, index) == "ollama-gate_ollama-models"
        assert status_of(host["proxy_url"] + "/api/tags") == 0  # nothing answers on the port
        assert ssh(lab, index, "systemctl is-active docker").stdout.strip() == "active"

    again = deploy(files=UNINSTALL)
    assert again.returncode == 0, again.output[-3000:]
    assert again.results(), "no results table"
    assert again.changed() == {}, again.changed()

    redeploy = deploy()
    assert redeploy.returncode == 0, redeploy.output[-3000:]
    assert "Pulling models" not in redeploy.output  # the kept volume still has them
    for host in lab["hosts"]:
        name, value = credential(lab, host)
        assert status_of(host["proxy_url"] + "/api/tags", auth_header(host["auth_mode"], name, value)) == 200


def test_uninstall_models_removes_the_volume(deployed):
    lab = deployed["lab"]
    host = lab["hosts"][0]
    run = deploy("--limit", host["name"], "--data", "uninstall_models=True", files=UNINSTALL)
    assert run.returncode == 0, run.output[-3000:]
    assert volumes(lab, 0) == ""
    assert leftovers(lab, 0)["containers"] == ""
    assert lab["hosts"][1]["name"] not in run.output.split("--> Results:")[-1]  # --limit held
    restored = deploy("--limit", host["name"])
    assert restored.returncode == 0, restored.output[-3000:]
    assert "Pulling models" in restored.output  # the volume was really gone


def test_a_foreign_stack_dir_is_not_removed(deployed):
    lab = deployed["lab"]
    host = lab["hosts"][0]
    ssh(lab, 0, "mkdir -p /srv/not-a-gate && echo keep > /srv/not-a-gate/data")
    try:
        run = deploy("--limit", host["name"], "--data", "stack_dir=/srv/not-a-gate",
                     "--data", "stack_project=not-a-gate", files=UNINSTALL)
        assert run.returncode != 0
        assert "not removing it" in run.output
        assert ssh(lab, 0, "cat /srv/not-a-gate/data").stdout.strip() == "keep"
    finally:
        ssh(lab, 0, "rm -rf /srv/not-a-gate")
