"""The lab itself: real SSH to systemd hosts without Docker, and stand-ins that answer.

The `lab` fixture (fixtures.py) brings the lab up when it is not, and then takes it down
at the end of the session, checking that nothing is left behind.
"""

from __future__ import annotations

import json
import os
import socket
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from ollama_gate.images import archive_filename

from lab import (HOST_IMAGE, LAB_NAME, NGINX_IMAGE, OLLAMA_IMAGE,
               OPENRESTY_IMAGE, SSH_KEY)
from lab.hosts import SYSTEMD_FLAGS, authorize_key, label_args, pick_port, ssh, wait_ssh
from lab.images import image_exists
from lab.run import docker


def test_state_file_describes_each_host(lab):
    assert [h["name"] for h in lab["hosts"]] == [f"{LAB_NAME}-{i + 1}"
                                                 for i in range(len(lab["hosts"]))]
    assert [h["auth_mode"] for h in lab["hosts"]][:2] == ["basic", "bearer"][:len(lab["hosts"])]
    for host in lab["hosts"]:
        assert host["ssh_host"] == "127.0.0.1"
        assert host["proxy_url"] == f"http://127.0.0.1:{host['proxy_port']}"
        assert host["credentials"] and all(c["name"] for c in host["credentials"])
    # Names and paths only: no credential value in lab.json.
    secrets = Path(lab["secrets_file"]).read_text()
    for host in lab["hosts"]:
        for cred in host["credentials"]:
            assert cred["name"] in secrets
            assert "value" not in cred


@pytest.mark.parametrize("index", [0, 1])
def test_host_answers_over_ssh_as_root_with_systemd_running(lab, index):
    host = lab["hosts"][index]
    result = ssh(host["ssh_port"], "id -u; cat /proc/1/comm; . /etc/os-release; "
                 "echo $VERSION_CODENAME; systemctl is-system-running --wait")
    assert result.returncode == 0, result.stderr + result.stdout
    uid, pid1, codename, system = result.stdout.split()
    assert (uid, pid1, codename, system) == ("0", "systemd", "trixie", "running")


def test_hosts_have_their_own_ssh_host_keys(lab):
    keys = {ssh(h["ssh_port"], "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout
            for h in lab["hosts"]}
    assert len(keys) == len(lab["hosts"])


def test_a_fresh_host_is_ssh_ready_quickly_without_docker(lab):
    """A new host of the host image (not the shared ones: a deploy may have run there)."""
    name, port = f"{LAB_NAME}-test-fresh", pick_port(28801, set())
    docker("rm", "-f", name, check=False, capture=True)
    start = time.monotonic()
    docker("run", "-d", "--name", name, *label_args(), *SYSTEMD_FLAGS,
           "-p", f"127.0.0.1:{port}:22", HOST_IMAGE, capture=True)
    try:
        authorize_key(name, SSH_KEY.with_suffix(".pub").read_text())
        wait_ssh(port, timeout=60)
        assert time.monotonic() - start < 30
        result = ssh(port, "systemctl is-system-running --wait; command -v docker dockerd; "
                     "apt-get install -s docker.io docker-compose | grep -c '^Inst docker'")
        # systemd up, no docker binary (the deploy installs it), apt resolves the packages.
        system, docker_packages = result.stdout.split()
        assert system == "running" and int(docker_packages) >= 2, result.stdout + result.stderr
    finally:
        docker("rm", "-f", "-v", name, check=False, capture=True)


def test_only_loopback_ports_are_published(lab):
    for host in lab["hosts"]:
        info = json.loads(docker("container", "inspect", host["name"], capture=True).stdout)[0]
        bindings = info["HostConfig"]["PortBindings"]
        published = {k: [(b["HostIp"], int(b["HostPort"])) for b in v] for k, v in bindings.items()}
        assert published == {"22/tcp": [("127.0.0.1", host["ssh_port"])],
                             "8880/tcp": [("127.0.0.1", host["proxy_port"])]}
        mounts = {m["Destination"]: m for m in info["Mounts"]}
        assert mounts["/var/lib/docker"]["Name"] == f"{host['name']}-docker"


def test_archives_hold_the_stand_ins_under_their_lab_names(lab):
    for ref in (NGINX_IMAGE, OPENRESTY_IMAGE, OLLAMA_IMAGE):
        archive = Path(lab["images_archive_dir"]) / archive_filename(ref)
        if ref == OLLAMA_IMAGE and not archive.exists():
            pytest.skip("no Ollama stand-in yet (lab/images/ollama)")
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        assert [ref] == manifest[0]["RepoTags"]


# --- Stand-ins, run in the outer engine on 127.0.0.1 ------------------------------

def _http(url: str, headers: dict | None = None, timeout: float = 20) -> tuple[int, bytes]:
    """GET url, retrying (bounded) while nothing listens yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture
def run_standin(lab, tmp_path):
    """Run a stand-in image with a conf.d dir on a free 127.0.0.1 port; removed after."""
    names = []

    def start(image: str, port_in_container: int, conf: str | None = None,
              args: tuple = ()) -> tuple[str, int]:
        name = f"{LAB_NAME}-test-{len(names)}"
        port = pick_port(28881, set())
        volumes = []
        if conf is not None:
            conf_dir = tmp_path / f"conf{len(names)}"
            conf_dir.mkdir()
            (conf_dir / "test.conf").write_text(conf)
            volumes = ["-v", f"{conf_dir}:/etc/nginx/conf.d:ro"]
        docker("rm", "-f", name, check=False, capture=True)
        docker("run", "-d", "--name", name, *label_args(), *volumes,
               "-p", f"127.0.0.1:{port}:{port_in_container}", image, *args, capture=True)
        names.append(name)
        return name, port

    yield start
    for name in names:
        docker("rm", "-f", name, check=False, capture=True)


def _worker_uids(name: str) -> set[str]:
    """Real UIDs of the nginx worker processes in container name."""
    out = docker("exec", name, "sh", "-c",
                 "for p in /proc/[0-9]*; do case \"$(tr '\\0' ' ' < $p/cmdline)\" in "
                 "'nginx: worker process'*) awk '/^Uid:/ {print $2}' $p/status;; esac; done",
                 capture=True).stdout
    return set(out.split())


SHA256_LUA = """
server {
    listen 8080;
    location / {
        content_by_lua_block {
            local ffi = require "ffi"
            ffi.cdef[[unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);]]
            local out = ffi.new("unsigned char[32]")
            ffi.C.SHA256("abc", 3, out)
            ngx.say(string.format("%02x%02x", out[0], out[1]), " ", ngx.worker.count())
        }
    }
}"""


@pytest.mark.parametrize("image, conf, body, uid, nginx_cmd", [
    # The official nginx image: workers as nginx (101), `nginx` to test and reload.
    (NGINX_IMAGE, "server { listen 8080; location / { return 200 'nginx ok'; } }",
     b"nginx ok", "101", "nginx"),
    # The official openresty image: Lua with FFI into libcrypto (SHA-256("abc") starts ba78),
    # one worker as nobody (65534), `openresty` and `nginx` both on PATH.
    (OPENRESTY_IMAGE, SHA256_LUA, b"ba78 1\n", "65534", "openresty"),
])
def test_proxy_standin_runs_a_config_as_the_official_image_would(run_standin, image, conf,
                                                                 body, uid, nginx_cmd):
    name, port = run_standin(image, 8080, conf)
    assert _http(f"http://127.0.0.1:{port}/") == (200, body)
    assert _worker_uids(name) == {uid}
    docker("exec", name, "nginx", "-t", capture=True)
    docker("exec", name, nginx_cmd, "-s", "reload", capture=True)
    assert _http(f"http://127.0.0.1:{port}/") == (200, body)


def test_nginx_standin_has_no_lua_like_the_official_image(run_standin):
    lua = "server { listen 8080; location / { content_by_lua_block { ngx.say(1) } } }"
    name, _ = run_standin(NGINX_IMAGE, 8080, lua)
    deadline = time.monotonic() + 20
    while docker("inspect", "-f", "{{.State.Running}}", name, capture=True).stdout.strip() == "true":
        assert time.monotonic() < deadline, "nginx started with a Lua directive"
        time.sleep(0.3)
    logs = docker("logs", name, capture=True)
    assert 'unknown directive "content_by_lua_block"' in logs.stderr + logs.stdout


def test_ollama_standin_answers_the_api(run_standin):
    if not image_exists(OLLAMA_IMAGE):
        pytest.skip("no Ollama stand-in yet (lab/images/ollama)")
    _, port = run_standin(OLLAMA_IMAGE, 11434)
    status, body = _http(f"http://127.0.0.1:{port}/api/version", timeout=30)
    assert status == 200 and b"version" in body
    status, body = _http(f"http://127.0.0.1:{port}/api/tags")
    assert status == 200 and "models" in json.loads(body)


# --- down removes what the lab made, and nothing else -----------------------------
# (A lab brought up by the tests is also taken down and checked by the fixture itself.)

def test_down_spares_what_the_lab_did_not_make(lab, monkeypatch):
    """down finds the lab's containers and volumes by label and name, not by a wide net."""
    from lab import hosts

    bystander = f"{LAB_NAME}-bystander"  # a look-alike name, but not labelled as the lab's
    docker("volume", "create", bystander, capture=True)
    try:
        removals = []

        def dry_docker(*args, **kwargs):
            """Real docker for listing; removals are only recorded."""
            if args[:2] in (("rm", "-f"), ("volume", "rm")):
                removals.extend(args)
                return None
            return docker(*args, **kwargs)

        monkeypatch.setattr(hosts, "docker", dry_docker)
        hosts.remove_hosts()
        targets = {name for name in removals if name.startswith(LAB_NAME)}
        expected = {h["name"] for h in lab["hosts"]} | {f"{h['name']}-docker" for h in lab["hosts"]}
        assert expected <= targets and bystander not in targets
    finally:
        docker("volume", "rm", "-f", bystander, check=False, capture=True)


def test_lab_inventory_gives_each_host_its_mode_credentials_and_the_stand_ins(lab, monkeypatch):
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    from ollama_gate import PROJECT_DIR

    # The inventory points the deploy at the lab's secrets; undo that after this test.
    monkeypatch.setenv("OLLAMA_GATE_SECRETS", "not-the-lab-secrets.yml")
    with ctx_state.use(State(config=Config())):
        inventory = make_inventory(str(PROJECT_DIR / "inventory" / "lab.py"), cwd=str(PROJECT_DIR))
    data = {host.name: host.data.dict() for host in inventory}
    assert os.environ["OLLAMA_GATE_SECRETS"] == lab["secrets_file"]
    assert list(data) == [h["name"] for h in lab["hosts"] if h["auth_mode"] == "basic"] + [
        h["name"] for h in lab["hosts"] if h["auth_mode"] == "bearer"]
    for host in lab["hosts"]:
        d = data[host["name"]]
        assert (d["ssh_hostname"], d["ssh_port"], d["ssh_user"], d["ssh_key"]) == (
            "127.0.0.1", host["ssh_port"], "root", lab["ssh_key"])
        assert d["auth_mode"] == host["auth_mode"]
        assert d["auth_credentials"] == [c["name"] for c in host["credentials"]]
        assert (d["images_source"], d["images_archive_dir"]) == ("archive", lab["images_archive_dir"])
        assert (d["images_ollama"], d["images_nginx"], d["images_openresty"]) == (
            OLLAMA_IMAGE, NGINX_IMAGE, OPENRESTY_IMAGE)
        assert d["docker_install_method"] == "distro"
