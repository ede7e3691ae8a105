"""Hosts: the lab hosts, containers of the host image running systemd and sshd.

Each host `ollama-gate-lab-N` (`<OLLAMA_GATE_LAB_NAME>-N`) publishes its sshd and the
product's proxy port on 127.0.0.1 only, keeps its nested Docker's data in the named volume
`ollama-gate-lab-N-docker`, and lets root in with the lab's own ed25519 key.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time

from pathlib import Path

from . import (CHECKOUT, CHECKOUT_LABEL_KEY, ENV_NAME, HOST_IMAGE, LAB_LABEL_KEY, LAB_NAME, LABEL,
               LABELS, PREFIX, PROXY_PORT_BASE, PROXY_PORT_IN_HOST, SSH_DIR, SSH_KEY, SSH_PORT_BASE,
               STATE_FILE)
from .run import apt_install, docker, log, run

# The flags that run systemd in a container on this kind of machine (no CAP_SYS_RESOURCE,
# so no --privileged): shared/notes/lab-machines.md.
SYSTEMD_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined", "--cgroupns=host",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
]


def label_args() -> list[str]:
    """--label arguments for everything this lab makes: the lab, its name, this checkout."""
    return [arg for label in LABELS for arg in ("--label", label)]


def host_name(index: int) -> str:
    """The container name of lab host index (1-based)."""
    return f"{LAB_NAME}-{index}"


def volume_name(index: int) -> str:
    """The named volume holding /var/lib/docker of lab host index."""
    return f"{host_name(index)}-docker"


def ensure_ssh_key() -> str:
    """Make the lab's ed25519 key pair once; return the public key."""
    if not (shutil.which("ssh-keygen") and shutil.which("ssh")):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise SystemExit("lab: the lab needs the OpenSSH client (ssh, ssh-keygen)")
        log("installing openssh-client (ssh and ssh-keygen)")
        apt_install("openssh-client")
    SSH_DIR.mkdir(parents=True, exist_ok=True)
    SSH_DIR.chmod(0o700)
    if not SSH_KEY.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", PREFIX, "-f", str(SSH_KEY)])
    return SSH_KEY.with_suffix(".pub").read_text().strip()


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (so the lab may publish it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(start: int, taken: set[int], tries: int = 200) -> int:
    """The first free port from start that is not in taken."""
    for port in range(start, start + tries):
        if port not in taken and port_free(port):
            taken.add(port)
            return port
    raise SystemExit(f"lab: no free port on 127.0.0.1 in {start}..{start + tries - 1}")


def _listing(kind: list[str]) -> list[tuple[str, str, str]]:
    """(name, lab name, checkout) of every container or volume carrying the lab label."""
    name = "{{.Names}}" if kind[0] == "ps" else "{{.Name}}"
    fmt = (name + '|{{.Label "' + LAB_LABEL_KEY + '"}}|{{.Label "' + CHECKOUT_LABEL_KEY + '"}}')
    out = docker(*kind, "--filter", f"label={LABEL}", "--format", fmt, capture=True).stdout
    rows = []
    for line in out.splitlines():
        name, lab, checkout = (line.split("|") + ["", ""])[:3]
        # Hosts made before labs had names carry no lab label: they are the default lab's.
        rows.append((name, lab or PREFIX, checkout))
    return rows


def _ours(rows: list[tuple[str, str, str]]) -> list[str]:
    return sorted(name for name, lab, _ in rows if lab == LAB_NAME)


def lab_containers() -> list[str]:
    """Names of every container of this lab (by its labels), running or not."""
    return _ours(_listing(["ps", "-a"]))


def lab_volumes() -> list[str]:
    """Names of every volume of this lab (by its labels)."""
    return _ours(_listing(["volume", "ls"]))


def owners() -> dict[str, list[str]]:
    """Checkout -> names of this lab's containers and volumes it made ("" for those made
    before checkouts were recorded)."""
    found: dict[str, list[str]] = {}
    for name, lab, checkout in _listing(["ps", "-a"]) + _listing(["volume", "ls"]):
        if lab == LAB_NAME:
            found.setdefault(checkout, []).append(name)
    return found


class NotOurs(SystemExit):
    """The lab named here belongs to another checkout (or to none that can be told)."""


def check_ownership(recorded: bool) -> None:
    """Refuse (NotOurs) unless every container and volume of LAB_NAME is this checkout's.

    + recorded: this checkout's .lab/lab.json describes LAB_NAME; then the hosts made
      before checkouts were labelled count as ours.
    """
    others = {c: names for c, names in owners().items()
              if c != CHECKOUT and not (c == "" and recorded)}
    if not others:
        return
    lines = []
    for checkout, names in sorted(others.items()):
        if checkout:
            state = Path(checkout) / ".lab" / "lab.json"
            alive = "its .lab/lab.json describes it" if _describes(state) else \
                "its .lab/lab.json is gone; run `make lab-down` there, or remove them by hand"
            lines.append(f"{', '.join(sorted(names))} belong to the checkout {checkout} ({alive})")
        else:
            lines.append(f"{', '.join(sorted(names))} carry no checkout label and this checkout has "
                         f"no {STATE_FILE.relative_to(STATE_FILE.parent.parent)} for them: made by "
                         "another checkout before labs were labelled")
    raise NotOurs(f"lab: the lab {LAB_NAME!r} is not this checkout's ({CHECKOUT}): "
                  + "; ".join(lines) + f". Nothing was removed. Set {ENV_NAME} to this "
                  "checkout's own lab name, or run this in the checkout that made it.")


def _describes(state_file: Path) -> bool:
    try:
        return (json.loads(state_file.read_text()).get("lab_name") or PREFIX) == LAB_NAME
    except (OSError, ValueError):
        return False


def lab_address(name: str) -> str:
    """The address of lab host name on the Docker network the lab hosts share: how one lab
    host (a fleet's gateway) reaches another (its backends). Only lab containers use it."""
    info = inspect(name)
    networks = (info or {}).get("NetworkSettings", {}).get("Networks") or {}
    for network in networks.values():
        if network.get("IPAddress"):
            return network["IPAddress"]
    raise SystemExit(f"lab: {name} has no address on a Docker network")


def inspect(name: str) -> dict | None:
    """docker inspect of container name, or None when there is none."""
    result = docker("container", "inspect", name, check=False, capture=True)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)[0]


def published_port(info: dict, container_port: int) -> int | None:
    """The 127.0.0.1 port that container_port/tcp is published on."""
    bindings = (info["HostConfig"].get("PortBindings") or {}).get(f"{container_port}/tcp")
    return int(bindings[0]["HostPort"]) if bindings else None


def start_host(index: int, taken: set[int]) -> dict:
    """Make (or start again) lab host index; return its name and ports."""
    name = host_name(index)
    info = inspect(name)
    if info is None:
        docker("volume", "create", *label_args(), volume_name(index), capture=True)
        # Another lab starting at the same time may take a port between our check and
        # Docker's bind: then the container is removed and the next free ports are tried.
        for _ in range(10):
            ssh_port = pick_port(SSH_PORT_BASE + index - 1, taken)
            proxy_port = pick_port(PROXY_PORT_BASE + index - 1, taken)
            log(f"starting {name} (ssh 127.0.0.1:{ssh_port}, proxy 127.0.0.1:{proxy_port})")
            result = docker("run", "-d", "--name", name, "--hostname", name, *label_args(),
                            *SYSTEMD_FLAGS, "-v", f"{volume_name(index)}:/var/lib/docker",
                            "-p", f"127.0.0.1:{ssh_port}:22",
                            "-p", f"127.0.0.1:{proxy_port}:{PROXY_PORT_IN_HOST}",
                            HOST_IMAGE, "/lib/systemd/systemd", capture=True, check=False)
            if result.returncode == 0:
                break
            if "port is already allocated" not in result.stderr:
                raise SystemExit(f"lab: starting {name} failed: {result.stderr.strip()[-2000:]}")
            docker("rm", "-f", name, capture=True, check=False)
        else:
            raise SystemExit(f"lab: {name}: every port tried was taken by the time Docker bound it")
    else:
        ssh_port = published_port(info, 22)
        proxy_port = published_port(info, PROXY_PORT_IN_HOST)
        taken.update({ssh_port, proxy_port})
        if not info["State"]["Running"]:
            log(f"starting {name} again")
            docker("start", name, capture=True)
    return {"name": name, "ssh_port": ssh_port, "proxy_port": proxy_port}


def drop_stale_standins(name: str, wanted: dict[str, str]) -> None:
    """Remove from host name's engine each stand-in whose ID is not the one built here.

    The deploy loads an archive only when its tag is missing (real tags do not change),
    but a stand-in rebuilt from changed sources keeps its tag. Removing the stale one makes
    the next deploy load the new archive and re-create the container that used it.
    """
    for ref, image_id in wanted.items():
        found = docker("exec", name, "docker", "image", "inspect", "--format", "{{.Id}}", ref,
                       check=False, capture=True)
        if found.returncode == 0 and found.stdout.strip() != image_id:
            log(f"{name}: {ref} is an older build; removed so the next deploy loads the new one")
            docker("exec", name, "docker", "image", "rm", "-f", ref, check=False, capture=True)


def authorize_key(name: str, public_key: str) -> None:
    """Let root on host name in with the lab key (written each time: the key may be new)."""
    docker("exec", "-i", name, "sh", "-c",
           "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys",
           input=(public_key + "\n").encode())


def ssh_command(port: int, *command: str, batch: bool = True) -> list[str]:
    """An ssh command line for root on the lab host at 127.0.0.1:port, with the lab key."""
    return ["ssh", "-i", str(SSH_KEY), "-p", str(port), "-o", f"BatchMode={'yes' if batch else 'no'}",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "root@127.0.0.1", *command]


def ssh(port: int, *command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run command on a lab host over real SSH; return the finished process (text output)."""
    return subprocess.run(ssh_command(port, *command), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def wait_ssh(port: int, timeout: float = 90) -> float:
    """Wait until root gets a shell over SSH on port; return the seconds it took."""
    start = time.monotonic()
    deadline = start + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            result = ssh(port, "true", timeout=10)
            if result.returncode == 0:
                return time.monotonic() - start
            last = result.stderr.strip()
        except subprocess.TimeoutExpired:
            last = "ssh timed out"
        time.sleep(0.5)
    raise SystemExit(f"lab: no SSH on 127.0.0.1:{port} after {timeout:.0f} s ({last})")


def remove_hosts() -> list[str]:
    """Remove every container and volume of this lab (found by its label); return their names."""
    containers, volumes = lab_containers(), lab_volumes()
    if containers:
        docker("rm", "-f", "-v", *containers, capture=True)
    if volumes:
        docker("volume", "rm", "-f", *volumes, capture=True)
    return containers + volumes
