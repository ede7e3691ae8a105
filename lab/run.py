"""Run: the lab's one way to run a command and to say what it is doing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

_START = time.monotonic()


def log(message: str) -> None:
    """Print one progress line on stderr, with seconds since the lab command started."""
    print(f"[lab {time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, check: bool = True, capture: bool = False, input: bytes | None = None,
        env: dict | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run cmd (a list, never a shell line); with capture, return its output as text."""
    result = subprocess.run(cmd, input=input, env=env, timeout=timeout,
                            capture_output=capture, text=capture and input is None)
    if check and result.returncode != 0:
        detail = f": {result.stderr.strip()[-2000:]}" if capture and result.stderr else ""
        raise SystemExit(f"lab: `{' '.join(cmd)}` failed ({result.returncode}){detail}")
    return result


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run the docker client with args."""
    return run(["docker", *args], **kwargs)


_apt_updated = False


def apt_install(*packages: str) -> None:
    """apt-get install packages (as root on Debian), after one apt-get update per run."""
    global _apt_updated
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        run(["apt-get", "update", "-qq"], env=env)
        _apt_updated = True
    run(["apt-get", "install", "-y", "-qq", *packages], env=env)
