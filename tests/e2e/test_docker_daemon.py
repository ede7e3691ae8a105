"""docker_daemon_options on a running lab host (#14 item 3): a bad option is refused before
it reaches the engine, an engine a bad daemon.json keeps down is repaired by a rerun with
the default, and the default removes the file again."""

from __future__ import annotations

import time

from . import faults
from .conftest import deploy, ssh
from .helpers import auth_header, status_of
from .test_deploy import credential, host_of_mode

DAEMON_JSON = "/etc/docker/daemon.json"


def engine(lab, index) -> tuple[str, str]:
    """(systemctl is-active docker, daemon.json content or "absent"), in one SSH call; asked
    again (at most 5 times) when the lab's loaded SSH gives no answer at all."""
    for _ in range(5):
        out = ssh(lab, index, f"systemctl is-active docker.service; echo ---; "
                              f"cat {DAEMON_JSON} 2>/dev/null || echo absent").stdout
        if "---" in out:
            active, _, content = out.partition("---")
            return active.strip(), content.strip()
        time.sleep(1)
    raise AssertionError(f"no answer over SSH from lab host {index}")


def serves(lab, host) -> bool:
    name, value = credential(lab, host)
    return status_of(host["proxy_url"] + "/api/tags", auth_header(host["auth_mode"], name, value)) == 200


def test_a_bad_option_is_refused_and_docker_keeps_running(deployed, request):
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    assert engine(lab, index) == ("active", "absent")
    started = time.monotonic()
    run = deploy("--limit", host["name"], "--data", 'docker_daemon_options={"bogus-option": true}')
    took = time.monotonic() - started
    assert run.returncode != 0, run.output[-3000:]
    assert "docker_daemon_options: dockerd refuses these options" in run.output, run.output[-3000:]
    assert "don't match any configuration option: bogus-option" in run.output
    assert engine(lab, index) == ("active", "absent")
    assert ssh(lab, index, "ls /etc/docker").stdout.split() == []  # nothing staged left behind
    assert serves(lab, host)
    faults.record(request, item="14.3", tried='`docker_daemon_options = {"bogus-option": true}`',
                  holds="refused by `dockerd --validate` before daemon.json is written; Docker and "
                  "the endpoint keep running", seconds=took, how="refused, Docker untouched")


def test_an_engine_a_bad_file_keeps_down_is_repaired_by_the_default(deployed, request):
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    # The fault as an older run (or a hand edit) left it: the engine restarted until
    # systemd's start limit refuses to start it at all.
    ssh(lab, index, f"echo '{{\"bogus-option\": true}}' > {DAEMON_JSON}; "
                    "for i in 1 2 3 4 5 6; do systemctl restart docker.service; done", timeout=180)
    assert engine(lab, index)[0] in ("failed", "inactive", "activating")
    assert not serves(lab, host)

    started = time.monotonic()
    run = deploy("--limit", host["name"])
    took = time.monotonic() - started
    assert run.returncode == 0, run.output[-4000:]
    assert "endpoint verified" in run.output
    assert engine(lab, index) == ("active", "absent")
    assert serves(lab, host)
    again = deploy("--limit", host["name"])
    assert again.returncode == 0 and again.changed() == {}, again.changed()
    faults.record(request, item="14.3", tried="a daemon.json Docker refuses, Docker restarted into "
                  "systemd's start limit", holds="the rerun with `docker_daemon_options = {}` removes the "
                  "file, clears the start limit, starts Docker; endpoint verified; next rerun changes "
                  "nothing", seconds=took, how="rerun with the default")


def test_a_good_option_restarts_once_and_the_default_removes_it(deployed):
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    run = deploy("--limit", host["name"], "--data", 'docker_daemon_options={"log-level": "warn"}')
    assert run.returncode == 0, run.output[-4000:]
    assert engine(lab, index) == ("active", '{\n  "log-level": "warn"\n}')
    assert serves(lab, host)
    back = deploy("--limit", host["name"])
    assert back.returncode == 0, back.output[-4000:]
    assert "Ensure Docker runs with the daemon options" in " ".join(back.changed())
    assert engine(lab, index) == ("active", "absent")
    assert serves(lab, host)
