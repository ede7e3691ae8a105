"""Upgrades on a lab host: changing images_ollama and images_nginx and deploying again is the
upgrade. Both containers are re-created on the new images; the models volume, the models in
it and the credentials survive; the endpoint is down only while the containers are swapped
(measured); deploying the old references again is the rollback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from ollama_gate.auth import MODES
from ollama_gate.images import archive_filename

from .conftest import deploy, ssh
from .helpers import auth_header, containers, status_of
from .test_deploy import credential


def new_tag(ref: str, tag: str) -> str:
    """ref with another tag: ollama-gate-lab/ollama:0.12.6-standin -> ...:0.12.7-standin."""
    return ref.rsplit(":", 1)[0] + ":" + tag


@pytest.fixture(scope="module")
def next_images(lab):
    """A next version of the Ollama and nginx stand-ins: the same program under a new tag,
    a different image (its own label), saved beside the lab's archives. A one-line build on
    top of the current image: about a second each, no apt, no debootstrap."""
    made = {}
    for kind, tag in (("ollama", "0.12.7-standin"), ("nginx", "1.28.1-standin")):
        old = lab["images"][kind]
        ref = new_tag(old, tag)
        dockerfile = f"FROM {old}\nLABEL org.opencontainers.image.version={tag.split('-')[0]}\n"
        subprocess.run(["docker", "build", "-q", "-t", ref, "-"], input=dockerfile, text=True,
                       check=True, capture_output=True)
        archive = f"{lab['images_archive_dir']}/{archive_filename(ref)}"
        subprocess.run(["docker", "save", "-o", archive, ref], check=True)
        made[kind] = (old, ref, archive)
    yield made
    for _old, ref, archive in made.values():
        subprocess.run(["rm", "-f", archive])
        subprocess.run(["docker", "image", "rm", ref], capture_output=True)


class Prober:
    """GET url every 50 ms from a thread while a deploy runs (bounded: 240 s, 5000 requests);
    the longest stretch of failed requests is the downtime."""

    def __init__(self, url, header):
        assert url.startswith("http://127.0.0.1:"), url
        self.url, self.header, self.samples = url, header, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        start = time.monotonic()
        while not self._stop.is_set() and len(self.samples) < 5000 and time.monotonic() - start < 240:
            self.samples.append((time.monotonic(), status_of(self.url, self.header, timeout=5)))
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def downtime(self) -> float:
        longest, since = 0.0, None
        for t, status in self.samples:
            if status != 200 and since is None:
                since = t
            elif status == 200 and since is not None:
                longest, since = max(longest, t - since), None
        return max(longest, self.samples[-1][0] - since) if since is not None else longest


def running_images(lab, index) -> dict[str, str]:
    out = ssh(lab, index, "docker inspect -f '{{.Name}} {{.Config.Image}}' ollama-gate-ollama ollama-gate-proxy").stdout
    return {line.split()[0].lstrip("/"): line.split()[1] for line in out.splitlines()}


def volume_created(lab, index) -> str:
    return ssh(lab, index, "docker volume inspect -f '{{.CreatedAt}}' ollama-gate_ollama-models").stdout.strip()


def test_upgrade_and_rollback_keep_models_and_credentials(deployed, next_images):
    lab = deployed["lab"]
    # The host whose proxy runs the nginx image (the stand-in upgraded here).
    index, host = next((i, h) for i, h in enumerate(lab["hosts"])
                       if MODES[h["auth_mode"]].image_setting == "images_nginx")
    limit = ("--limit", host["name"])
    name, value = credential(lab, host)
    header = auth_header(host["auth_mode"], name, value)
    url = host["proxy_url"] + "/api/tags"
    assert status_of(url, header) == 200
    before_containers = containers(lab, index)
    before_volume = volume_created(lab, index)
    (_, ollama_new, _), (_, nginx_new, _) = next_images["ollama"], next_images["nginx"]

    upgrade_args = ("--data", f"images_ollama={ollama_new}", "--data", f"images_nginx={nginx_new}")
    with Prober(url, header) as probe:
        start = time.monotonic()
        upgrade = deploy(*limit, *upgrade_args)
        took = time.monotonic() - start
    assert upgrade.returncode == 0, upgrade.output[-4000:]  # the deploy's verification passed
    assert running_images(lab, index) == {"ollama-gate-ollama": ollama_new, "ollama-gate-proxy": nginx_new}
    after = containers(lab, index)
    assert all(after[c][0] != before_containers[c][0] for c in ("ollama-gate-ollama", "ollama-gate-proxy"))
    # Models and credentials survived: same volume, nothing pulled, the same password works.
    assert volume_created(lab, index) == before_volume
    assert "Pulling models" not in upgrade.output
    assert "gemma3:1b" in ssh(lab, index, "docker exec ollama-gate-ollama ollama list").stdout
    assert status_of(url, header) == 200
    assert list(upgrade.changed()).count("Write the credential file of the auth mode (names only in output, never values).") == 0

    failed = sum(status != 200 for _, status in probe.samples)
    downtime = probe.downtime()
    print(f"upgrade: deploy {took:.1f} s, {len(probe.samples)} requests, {failed} failed, "
          f"endpoint down {downtime:.1f} s", file=sys.stderr)
    assert probe.samples[-1][1] == 200  # serving again at the end
    # Down only while the containers were swapped (about 5 s on the lab), never the whole run:
    # the new image is loaded and the files written while the old stack still serves.
    assert downtime < min(took - 1, 30)

    rollback = deploy(*limit)
    assert rollback.returncode == 0, rollback.output[-4000:]
    assert running_images(lab, index) == {"ollama-gate-ollama": lab["images"]["ollama"],
                                          "ollama-gate-proxy": lab["images"]["nginx"]}
    assert "Pulling models" not in rollback.output
    assert status_of(url, header) == 200
    print("rollback: " + json.dumps(rollback.changed()), file=sys.stderr)
