"""Engine: make sure a Docker engine answers, installing and starting one when there is none.

On a laptop the existing engine is used as it is. On a fresh Debian machine as root (CI)
there is no engine and no systemd, so the lab installs docker.io and starts dockerd itself,
in the background, and waits for its socket (shared/notes/lab-machines.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from . import LAB_DIR
from .run import apt_install, log

SOCKET = "/var/run/docker.sock"
DOCKERD_LOG = LAB_DIR / "dockerd.log"
DOCKERD_PID = LAB_DIR / "dockerd.pid"


def engine_answers() -> bool:
    """True when `docker info` reaches an engine."""
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_engine(timeout: float = 60) -> None:
    """Use the running engine, or install docker.io and start dockerd; fail after timeout s."""
    if engine_answers():
        return
    if os.environ.get("DOCKER_HOST"):
        raise SystemExit(f"lab: DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer")
    if os.geteuid() != 0:
        raise SystemExit("lab: no Docker engine answers; start Docker (or run as root to let "
                         "the lab install docker.io and start dockerd)")
    if not shutil.which("dockerd"):
        log("installing docker.io (no Docker engine on this machine)")
        apt_install("docker.io")
    if not shutil.which("docker"):
        raise SystemExit("lab: dockerd is installed but no docker client is on PATH")
    if not os.path.exists(SOCKET) or not engine_answers():
        _start_dockerd()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine_answers():
            return
        time.sleep(0.5)
    tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-15:] if DOCKERD_LOG.exists() else []
    raise SystemExit(f"lab: dockerd did not answer within {timeout:.0f} s; the end of "
                     f"{DOCKERD_LOG}:\n" + "\n".join(tail))


def _start_dockerd() -> None:
    """Start dockerd detached (its own session, so it outlives this process); record its PID."""
    LAB_DIR.mkdir(exist_ok=True)
    if os.path.exists(SOCKET):
        os.unlink(SOCKET)  # a stale socket of an engine that is gone
    log(f"starting dockerd (log: {DOCKERD_LOG})")
    with open(DOCKERD_LOG, "ab") as out:
        proc = subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    DOCKERD_PID.write_text(f"{proc.pid}\n")


def stop_engine_if_ours(timeout: float = 30) -> bool:
    """Stop the dockerd this lab started (by its recorded PID); False when it did not start one."""
    if not DOCKERD_PID.exists():
        return False
    pid = int(DOCKERD_PID.read_text())
    DOCKERD_PID.unlink()
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if not f.read().split(b"\0")[0].endswith(b"dockerd"):
                return False  # the PID now belongs to something else
        os.kill(pid, 15)
    except (FileNotFoundError, ProcessLookupError):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.2)
    return True
