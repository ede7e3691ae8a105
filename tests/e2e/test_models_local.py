"""Models for hosts without internet (models_source = "local") on a lab host: the operator's
models directory is made by a real `pull` of the Ollama stand-in on this machine, archived
with `python -m ollama_gate models-archive`, and deployed to a host whose Ollama has no route
out (so its own pulls fail as they would on an air-gapped server). Only missing blobs go over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from ollama_gate import PROJECT_DIR

from .conftest import deploy, ssh
from .helpers import auth_header
from .test_deploy import credential

STANDIN = PROJECT_DIR / "lab" / "images" / "ollama" / "ollama"
HF_MODEL = "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"
MODELS = ["gemma3:1b", HF_MODEL]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def operator_archive(tmp_path_factory):
    """~/.ollama/models of an operator's machine (the stand-in's real on-disk layout, from
    its pull), then the archive the deploy takes."""
    root = tmp_path_factory.mktemp("operator")
    env = dict(os.environ, OLLAMA_HOST=f"127.0.0.1:{free_port()}", OLLAMA_MODELS=str(root / "models"),
               OLLAMA_STANDIN_DELAY="0")
    server = subprocess.Popen([sys.executable, str(STANDIN), "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while subprocess.run([sys.executable, str(STANDIN), "list"], env=env, capture_output=True).returncode:
            assert time.monotonic() < deadline, "the local stand-in did not start"
            time.sleep(0.2)
        for name in MODELS:
            pulled = subprocess.run([sys.executable, str(STANDIN), "pull", name], env=env,
                                    capture_output=True, text=True, timeout=60)
            assert pulled.returncode == 0, pulled.stderr
    finally:
        server.terminate()  # the server this fixture started, by its handle
        server.wait(timeout=20)
    archive = root / "models.tar"
    made = subprocess.run([sys.executable, "-m", "ollama_gate", "models-archive", str(archive), *MODELS,
                           "--from", str(root / "models")], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert "2 model(s)" in made.stderr
    return archive


def local_args(archive):
    return ("--data", "models_source=local", "--data", f"models_local_path={archive}",
            "--data", "models=" + json.dumps(MODELS))


def test_air_gapped_host_gets_models_from_the_operator(deployed, operator_archive):
    lab = deployed["lab"]
    index, host = 0, lab["hosts"][0]
    limit = ("--limit", host["name"])
    # A host whose models volume is empty: nothing can come from an earlier pull.
    gone = deploy(*limit, "--data", "uninstall_models=True", files=("uninstall.py",))
    assert gone.returncode == 0, gone.output[-3000:]
    try:
        first = deploy(*limit, *local_args(operator_archive))
        assert first.returncode == 0, first.output[-4000:]  # includes the verification
        assert "Copying models: gemma3:1b, " + HF_MODEL in first.output

        # No route out: Ollama's own pull fails as on an air-gapped host ...
        internal = ssh(lab, index, "docker network inspect -f '{{.Internal}}' ollama-gate_backend-internal").stdout.strip()
        assert internal == "true"
        pull = ssh(lab, index, "docker exec ollama-gate-ollama ollama pull qwen2.5:0.5b")
        assert pull.returncode != 0 and "dial tcp" in pull.stderr, pull.stderr
        # ... and yet both copied models are listed and answer through the proxy.
        listed = ssh(lab, index, "docker exec ollama-gate-ollama ollama list").stdout.lower()
        assert "gemma3:1b" in listed and HF_MODEL.lower() in listed
        name, value = credential(lab, host)
        header = auth_header(host["auth_mode"], name, value)
        for model in MODELS:
            out = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: {header}",
                 "-d", json.dumps({"model": model, "prompt": "hi", "stream": False}),
                 host["proxy_url"] + "/api/generate"], capture_output=True, text=True, timeout=60)
            assert out.stdout == "200", (model, out.stdout)

        again = deploy(*limit, *local_args(operator_archive))
        assert again.returncode == 0, again.output[-3000:]
        assert again.changed() == {}, again.changed()

        # One blob lost on the host: only that one goes over again.
        blobs = ssh(lab, index, "ls /var/lib/docker/volumes/ollama-gate_ollama-models/_data/models/blobs").stdout.split()
        ssh(lab, index, f"rm /var/lib/docker/volumes/ollama-gate_ollama-models/_data/models/blobs/{blobs[0]}")
        repair = deploy(*limit, *local_args(operator_archive))
        assert repair.returncode == 0, repair.output[-3000:]
        assert "1 blob(s) the host lacks" in repair.output
        assert list(repair.changed()) == [
            "Ensure the models are in place, copied from models_local_path (only missing blobs)."]
    finally:
        restored = deploy(*limit)
        assert restored.returncode == 0, restored.output[-3000:]
