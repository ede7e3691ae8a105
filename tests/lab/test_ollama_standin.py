"""The lab's Ollama stand-in (lab/images/ollama/ollama) answers in Ollama's formats.

The program runs here as a plain process on 127.0.0.1 (a free port, a temporary
OLLAMA_MODELS); no Docker is needed. Each check names the real behaviour it pins
(docs/api.md, server/routes.go, cmd/cmd.go of ollama/ollama; see the program's header).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lab import IMAGE_SOURCES

PROGRAM = IMAGE_SOURCES / "ollama" / "ollama"
GEMMA_DIGEST = "8648f39daa8fbf5b18c7b4e6a8fb4990c692751d49917417b8842ca5758e7ffc"
GEMMA_SIZE = 815319791


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Standin:
    """One `ollama serve` process of the stand-in, started and stopped by its PID."""

    def __init__(self, models: Path, port: int | None = None, **extra_env: str):
        self.models = models
        self.port = port or free_port()
        self.extra_env = extra_env
        self.proc: subprocess.Popen | None = None

    def env(self, host: str | None = None) -> dict:
        env = dict(os.environ)
        env.update(OLLAMA_HOST=host or f"127.0.0.1:{self.port}", OLLAMA_MODELS=str(self.models),
                   OLLAMA_STANDIN_DELAY="0.2")
        env.update(self.extra_env)
        return env

    def start(self) -> "Standin":
        self.log = self.models.parent / f"serve-{self.port}.log"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, str(PROGRAM), "serve"],
                                         env=self.env(), stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the stand-in did not listen within 10 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def request(self, method: str, path: str, body=None, headers=None):
        """(status, headers, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            conn.request(method, path, body=data, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body=None):
        status, _, raw = self.request(method, path, body)
        return status, json.loads(raw)

    def ndjson(self, path: str, body):
        status, headers, raw = self.request("POST", path, body)
        assert status == 200, raw
        assert headers["Content-Type"] == "application/x-ndjson"
        return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]

    def cli(self, *args: str, host: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(PROGRAM), *args], env=self.env(host),
                              capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Standin(tmp_path_factory.mktemp("ollama-models")).start()
    try:
        status, body = s.json("POST", "/api/pull", {"model": "gemma3:1b", "stream": False})
        assert (status, body) == (200, {"status": "success"})
        status, body = s.json("POST", "/api/pull", {"model": "all-minilm", "stream": False})
        assert (status, body) == (200, {"status": "success"})
        yield s
    finally:
        s.stop()


def test_the_program_says_it_is_a_test_double():
    head = PROGRAM.read_text()[:600]
    assert "TEST DOUBLE" in head and "not Ollama" in head
    assert os.access(PROGRAM, os.X_OK)
    dockerfile = (PROGRAM.parent / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/bin/ollama"]' in dockerfile and 'CMD ["serve"]' in dockerfile
    assert "ENV OLLAMA_HOST=0.0.0.0:11434" in dockerfile and "EXPOSE 11434" in dockerfile
    assert not re.search(r"^\s*VOLUME", dockerfile, re.M)


# --- general routes (server/routes.go GenerateRoutes) ------------------------------------

def test_root_version_and_unknown_routes(server):
    status, headers, body = server.request("GET", "/")
    assert (status, body) == (200, b"Ollama is running")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    status, _, body = server.request("HEAD", "/")
    assert (status, body) == (200, b"")
    assert server.json("GET", "/api/version") == (200, {"version": "0.12.6"})
    assert server.request("GET", "/nope")[0] == 404
    assert server.request("GET", "/api/generate")[0] == 405


def test_host_header_is_checked_like_a_loopback_bound_server(server):
    assert server.request("GET", "/", headers={"Host": "localhost:11434"})[0] == 200
    assert server.request("GET", "/", headers={"Host": "10.1.2.3"})[0] == 200
    assert server.request("GET", "/", headers={"Host": "ollama.internal"})[0] == 200
    assert server.request("GET", "/", headers={"Host": "example.com"})[0] == 403


# --- pull (docs/api.md "Pull a Model", server/images.go PullModel, download.go) ----------

def test_pull_streams_progress_then_success(server):
    lines = server.ndjson("/api/pull", {"model": "gemma3:1b"})
    statuses = [line["status"] for line in lines]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layers = [line for line in lines if "digest" in line]
    assert layers, lines
    for line in layers:
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", line["digest"])
        assert line["status"] == f"pulling {line['digest'][7:19]}"
        assert 0 <= line["completed"] <= line["total"]
    totals = {line["digest"]: line["total"] for line in layers}
    assert sum(totals.values()) == GEMMA_SIZE
    weights = [line for line in layers if line["total"] == max(totals.values())]
    assert len(weights) > 1 and weights[-1]["completed"] == weights[-1]["total"]


def test_pull_of_an_unknown_model_fails_like_the_registry(server):
    lines = server.ndjson("/api/pull", {"model": "no-such-model:7b"})
    assert lines == [{"status": "pulling manifest"},
                     {"error": "pull model manifest: file does not exist"}]
    assert server.json("POST", "/api/pull", {"model": "no-such-model", "stream": False}) == \
        (500, {"error": "pull model manifest: file does not exist"})


def test_storage_is_in_ollamas_layout(server):
    path = server.models / "manifests" / "registry.ollama.ai" / "library" / "gemma3" / "1b"
    manifest = json.loads(path.read_text())
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["layers"][0]["mediaType"] == "application/vnd.ollama.image.model"
    described = [manifest["config"], *manifest["layers"]]
    assert sum(layer["size"] for layer in described) == GEMMA_SIZE
    for layer in described:
        blob = server.models / "blobs" / layer["digest"].replace(":", "-")
        data = blob.read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]
        assert len(data) < 64 * 1024


# --- listing and metadata (docs/api.md /api/tags, /api/show, /api/ps) --------------------

def test_tags_lists_pulled_models_with_real_ids_and_sizes(server):
    status, body = server.json("GET", "/api/tags")
    assert status == 200
    models = {m["name"]: m for m in body["models"]}
    gemma = models["gemma3:1b"]
    assert list(gemma) == ["name", "model", "modified_at", "size", "digest", "details"]
    assert gemma["model"] == "gemma3:1b" and gemma["size"] == GEMMA_SIZE
    assert gemma["digest"] == GEMMA_DIGEST
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
                        gemma["modified_at"])
    assert gemma["details"] == {"parent_model": "", "format": "gguf", "family": "gemma3",
                                "families": ["gemma3"], "parameter_size": "999.89M",
                                "quantization_level": "Q4_K_M"}
    assert "all-minilm:latest" in models


def test_show_and_ps(server):
    status, body = server.json("POST", "/api/show", {"model": "gemma3:1b"})
    assert status == 200
    assert body["details"]["family"] == "gemma3"
    assert body["capabilities"] == ["completion"]
    assert body["model_info"]["general.architecture"] == "gemma3"
    assert body["modelfile"].startswith('# Modelfile generated by "ollama show"')
    assert server.json("POST", "/api/show", {"model": "nope"}) == \
        (404, {"error": "model 'nope' not found"})
    server.json("POST", "/api/generate", {"model": "gemma3:1b", "prompt": "hi", "stream": False})
    status, body = server.json("GET", "/api/ps")
    assert status == 200
    running = {m["name"]: m for m in body["models"]}
    assert running["gemma3:1b"]["digest"] == GEMMA_DIGEST
    assert {"size", "size_vram", "expires_at", "details"} <= set(running["gemma3:1b"])


# --- generation (docs/api.md "Generate a completion" / "Generate a chat completion") -----

FINAL_FIELDS = {"total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration",
                "eval_count", "eval_duration"}


def test_generate_streams_ndjson_by_default(server):
    lines = server.ndjson("/api/generate", {"model": "gemma3:1b", "prompt": "Why is the sky blue?"})
    assert len(lines) >= 4
    for line in lines[:-1]:
        assert list(line) == ["model", "created_at", "response", "done"]
        assert line["model"] == "gemma3:1b" and line["done"] is False
    final = lines[-1]
    assert final["done"] is True and final["done_reason"] == "stop" and final["response"] == ""
    assert FINAL_FIELDS <= set(final) and isinstance(final["context"], list)
    assert final["eval_count"] == len(lines) - 1
    text = "".join(line["response"] for line in lines)
    assert "Why is the sky blue?" in text


def test_generate_without_streaming_is_one_object(server):
    status, headers, raw = server.request("POST", "/api/generate",
                                          {"model": "gemma3:1b", "prompt": "Say hi",
                                           "stream": False})
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    body = json.loads(raw)
    assert body["done"] is True and body["done_reason"] == "stop"
    assert "Say hi" in body["response"] and FINAL_FIELDS <= set(body)
    again = server.json("POST", "/api/generate",
                        {"model": "gemma3:1b", "prompt": "Say hi", "stream": False})[1]
    assert again["response"] == body["response"]  # deterministic


def test_generate_limits_and_loads(server):
    status, body = server.json("POST", "/api/generate", {
        "model": "gemma3:1b", "prompt": "Count", "stream": False, "options": {"num_predict": 2}})
    assert status == 200 and body["done_reason"] == "length" and body["eval_count"] == 2
    status, body = server.json("POST", "/api/generate", {"model": "gemma3:1b"})
    assert status == 200 and body["done_reason"] == "load" and body["response"] == ""


def test_unknown_models_are_404_with_ollamas_texts(server):
    assert server.json("POST", "/api/generate", {"model": "llama3:70b", "prompt": "x"}) == \
        (404, {"error": "model 'llama3:70b' not found"})
    assert server.json("POST", "/api/chat", {
        "model": "llama3:70b", "messages": [{"role": "user", "content": "x"}]}) == \
        (404, {"error": "model 'llama3:70b' not found"})
    assert server.json("POST", "/api/embed", {"model": "llama3:70b", "input": "x"}) == \
        (404, {"error": 'model "llama3:70b" not found, try pulling it first'})
    assert server.json("POST", "/api/generate", {"model": "all-minilm", "prompt": "x"}) == \
        (400, {"error": '"all-minilm" does not support generate'})


def test_chat_streams_and_answers_once(server):
    messages = [{"role": "user", "content": "Hello there"}]
    lines = server.ndjson("/api/chat", {"model": "gemma3:1b", "messages": messages})
    assert len(lines) >= 4
    for line in lines[:-1]:
        assert line["message"]["role"] == "assistant" and line["done"] is False
    assert lines[-1]["done"] is True and lines[-1]["done_reason"] == "stop"
    assert FINAL_FIELDS <= set(lines[-1])
    status, body = server.json("POST", "/api/chat",
                               {"model": "gemma3:1b", "messages": messages, "stream": False})
    assert status == 200 and body["done"] is True
    assert body["message"]["content"] == "".join(line["message"]["content"] for line in lines)


def test_embed_returns_deterministic_unit_vectors(server):
    status, body = server.json("POST", "/api/embed",
                               {"model": "all-minilm", "input": ["Why is the sky blue?", "x"]})
    assert status == 200 and body["model"] == "all-minilm"
    assert len(body["embeddings"]) == 2 and all(len(v) == 384 for v in body["embeddings"])
    assert abs(math.sqrt(sum(v * v for v in body["embeddings"][0])) - 1) < 1e-4
    assert {"total_duration", "load_duration", "prompt_eval_count"} <= set(body)
    again = server.json("POST", "/api/embed", {"model": "all-minilm",
                                               "input": "Why is the sky blue?"})[1]
    assert again["embeddings"][0] == body["embeddings"][0]


# --- OpenAI compatibility (docs/openai.md, openai/openai.go, middleware/openai.go) -------

def test_v1_models(server):
    status, body = server.json("GET", "/v1/models")
    assert status == 200 and body["object"] == "list"
    ids = {m["id"]: m for m in body["data"]}
    assert ids["gemma3:1b"]["object"] == "model" and ids["gemma3:1b"]["owned_by"] == "library"


def test_v1_chat_completions_without_and_with_streaming(server):
    request = {"model": "gemma3:1b", "messages": [{"role": "user", "content": "Hi"}]}
    status, body = server.json("POST", "/v1/chat/completions", request)
    assert status == 200 and body["object"] == "chat.completion"
    assert re.fullmatch(r"chatcmpl-\d+", body["id"]) and body["system_fingerprint"] == "fp_ollama"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    status, headers, raw = server.request("POST", "/v1/chat/completions",
                                          {**request, "stream": True})
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    events = [e for e in raw.decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert len(chunks) >= 3
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["finish_reason"] is None
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    text = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    assert text == choice["message"]["content"]


def test_v1_errors_use_the_openai_envelope(server):
    status, body = server.json("POST", "/v1/chat/completions", {
        "model": "nope", "messages": [{"role": "user", "content": "Hi"}]})
    assert status == 404
    assert body == {"error": {"message": "model 'nope' not found", "type": "api_error",
                              "param": None, "code": None}}


# --- the CLI (cmd/cmd.go) ------------------------------------------------------------------

def test_cli_version(server):
    result = server.cli("--version")
    assert (result.returncode, result.stdout) == (0, "ollama version is 0.12.6\n")


def test_cli_pull_list_rm(server):
    result = server.cli("pull", "qwen2.5:0.5b")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("pulling manifest\n")
    assert result.stderr.endswith("verifying sha256 digest\nwriting manifest\nsuccess\n")

    result = server.cli("list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"NAME +ID +SIZE +MODIFIED +", lines[0])
    rows = {line.split()[0]: line for line in lines[1:]}
    assert re.match(r"gemma3:1b +8648f39daa8f +815 MB +\S", rows["gemma3:1b"])
    assert re.match(r"qwen2.5:0.5b +a8b0c5157701 +397 MB +", rows["qwen2.5:0.5b"])
    # Columns line up as tablewriter pads them.
    assert len({line.index(line.split()[1]) for line in lines}) == 1

    result = server.cli("rm", "qwen2.5:0.5b")
    assert (result.returncode, result.stdout) == (0, "deleted 'qwen2.5:0.5b'\n")
    result = server.cli("rm", "qwen2.5:0.5b")
    assert (result.returncode, result.stderr) == (1, "Error: model 'qwen2.5:0.5b' not found\n")
    assert "qwen2.5" not in server.cli("list").stdout


def test_cli_pull_of_an_unknown_model_fails(server):
    result = server.cli("pull", "no-such-model:1b")
    assert result.returncode == 1
    assert result.stderr.endswith("Error: pull model manifest: file does not exist\n")


def test_cli_reaches_a_server_given_as_0_0_0_0(server):
    result = server.cli("list", host=f"0.0.0.0:{server.port}")
    assert result.returncode == 0 and "gemma3:1b" in result.stdout


def test_cli_without_a_server(tmp_path):
    idle = Standin(tmp_path)  # never started: nothing listens on its port
    for args in (["list"], ["pull", "gemma3:1b"], ["rm", "gemma3:1b"]):
        result = idle.cli(*args)
        assert (result.returncode, result.stderr) == \
            (1, "Error: could not connect to ollama app, is it running?\n")
    result = idle.cli("--version")
    assert result.returncode == 0
    assert result.stdout == ("Warning: could not connect to a running Ollama instance\n"
                             "Warning: client version is 0.12.6\n")


# --- persistence and the serve command -----------------------------------------------------

def test_models_persist_across_a_restart(tmp_path):
    first = Standin(tmp_path).start()
    try:
        assert first.cli("pull", "gemma3:270m").returncode == 0
    finally:
        first.stop()
    second = Standin(tmp_path).start()
    try:
        names = [m["name"] for m in second.json("GET", "/api/tags")[1]["models"]]
        assert names == ["gemma3:270m"]
        status, body = second.json("POST", "/api/generate",
                                   {"model": "gemma3:270m", "prompt": "hi", "stream": False})
        assert status == 200 and body["done"] is True
    finally:
        second.stop()


def test_serve_fails_when_the_port_is_taken(server):
    other = Standin(server.models, port=server.port)
    result = subprocess.run([sys.executable, str(PROGRAM), "serve"], env=other.env(),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr == f"Error: listen tcp 127.0.0.1:{server.port}: bind: " \
                            "address already in use\n"


@pytest.mark.parametrize("parallel", ["1", None])
def test_num_parallel_makes_generations_wait_their_turn(tmp_path, parallel):
    # OLLAMA_NUM_PARALLEL=1: one generation at a time, as one GPU answers (the gateway
    # benchmark's bottleneck); unset: no limit, as before.
    extra = {"OLLAMA_STANDIN_DELAY": "2"} | ({"OLLAMA_NUM_PARALLEL": parallel} if parallel else {})
    s = Standin(tmp_path / "models", **extra).start()
    try:
        assert s.json("POST", "/api/pull", {"model": "gemma3:1b", "stream": False})[0] == 200
        body = {"model": "gemma3:1b", "prompt": "hi", "stream": False}
        assert s.json("POST", "/api/generate", body)[0] == 200  # loads the model
        start = time.monotonic()
        assert s.json("POST", "/api/generate", body)[0] == 200
        one = time.monotonic() - start
        statuses = []
        threads = [threading.Thread(target=lambda: statuses.append(s.json("POST", "/api/generate", body)[0]))
                   for _ in range(3)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        three = time.monotonic() - start
        assert statuses == [200] * 3
        if parallel:
            assert three >= 2.5 * one, (one, three)
        else:
            assert three < 2 * one, (one, three)
    finally:
        s.stop()
