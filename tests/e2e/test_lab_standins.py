"""The lab replaces a stand-in image a lab host holds from an older build.

The deploy loads an archive only when the host lacks its tag (real tags do not change),
but a stand-in rebuilt from changed sources keeps its tag: `lab up` must notice the old
build on a host and remove it, so the next deploy loads the new one and runs it.
"""

from __future__ import annotations

import subprocess

from lab import OLLAMA_IMAGE, STANDIN_IMAGES
from ollama_gate import PROJECT_DIR

from .conftest import deploy, ssh

PY = str(PROJECT_DIR / ".venv" / "bin" / "python")


def _image_id(lab, index: int, ref: str) -> str:
    return ssh(lab, index, f"docker image inspect -f '{{{{.Id}}}}' {ref} 2>/dev/null").stdout.strip()


def test_an_older_build_of_a_standin_on_a_host_is_replaced_by_lab_up_and_the_next_deploy(deployed):
    lab = deployed["lab"]
    index = 0
    # The proxy image this host runs (a stand-in loaded from the lab's archive).
    proxy = ssh(lab, index, "docker inspect -f '{{.Config.Image}}' ollama-gate-proxy").stdout.strip()
    assert proxy in STANDIN_IMAGES
    built = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", proxy],
                           capture_output=True, text=True, check=True).stdout.strip()
    # Stand in for "an older build under the same tag": another image given that tag.
    assert ssh(lab, index, f"docker tag {OLLAMA_IMAGE} {proxy}").returncode == 0
    assert _image_id(lab, index, proxy) != built

    up = subprocess.run([PY, "-m", "lab", "up"], cwd=PROJECT_DIR, capture_output=True, text=True,
                        timeout=600, stdin=subprocess.DEVNULL)
    assert up.returncode == 0, up.stderr[-3000:]
    assert f"{proxy} is an older build" in up.stderr
    assert _image_id(lab, index, proxy) == ""
    # The stand-in that was current is left alone.
    assert _image_id(lab, index, OLLAMA_IMAGE)

    rerun = deploy()
    assert rerun.returncode == 0, rerun.output[-4000:]
    assert _image_id(lab, index, proxy) == built
    running = ssh(lab, index, "docker inspect -f '{{.Image}}' ollama-gate-proxy").stdout.strip()
    assert running == built
