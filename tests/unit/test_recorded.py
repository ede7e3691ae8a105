"""Answers the host keeps while their inputs are unchanged (facts/recorded.py), run by a real shell."""

from __future__ import annotations

import subprocess

import pytest

from ollama_gate.facts import recorded as rec
from ollama_gate.facts.docker import DockerSetup
from ollama_gate.facts.stack import ComposeStack


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.setattr(rec, "RECORD_DIR", str(tmp_path / "lock"))
    (tmp_path / "input").write_text("v1\n")
    return tmp_path


def _run(here, command="echo ran >> {d}/runs; printf 'a 1\\nb 2\\n'"):
    script = rec.recorded(command.format(d=here), f"cat {here}/input", "/opt/stack.answer-test")
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    runs = (here / "runs").read_text().count("ran") if (here / "runs").exists() else 0
    return out, runs


def test_the_answer_is_printed_from_the_record_while_the_inputs_are_the_same(here):
    assert _run(here) == ("a 1\nb 2\n", 1)
    assert _run(here) == ("a 1\nb 2\n", 1)  # not run again
    (here / "input").write_text("v2\n")
    assert _run(here) == ("a 1\nb 2\n", 2)  # an input changed: run again
    assert _run(here) == ("a 1\nb 2\n", 2)
    assert (here / "lock" / "ollama-gate_opt_stack.answer-test.answer").is_file()


def test_a_failed_or_empty_answer_is_never_recorded(here):
    failed = "echo ran >> {d}/runs; echo partial; exit 3"
    assert _run(here, failed) == ("partial\n", 1)
    assert _run(here, failed) == ("partial\n", 2)
    empty = "echo ran >> {d}/runs"
    assert _run(here, empty) == ("", 3)
    assert _run(here, empty) == ("", 4)
    assert not (here / "lock").exists() or not any((here / "lock").iterdir())


def test_compose_answers_are_recorded_against_everything_compose_reads():
    stack = ComposeStack().command(stack_dir="/opt/ollama-gate", project="ollama-gate")
    for what in ("/opt/ollama-gate/compose.yml /opt/ollama-gate/.env", "docker-compose", "COMPOSE_",
                 "config.json", "command -v docker"):
        assert what in stack
    assert "config --hash" in stack and "ollama-gate_opt_ollama-gate.compose-config-hash.answer" in stack
    setup = DockerSetup().command()
    assert "docker compose version --short" in setup and "ollama-gate-compose-version.answer" in setup
    assert "docker --version" in setup and "ollama-gate-docker-version.answer" in setup


def test_one_digest_of_composes_inputs_per_read_and_the_same_records_read_alone(here, tmp_path):
    """HostState computes the digest of what Compose reads once ($og_inputs); DockerSetup
    read alone computes the same, so the one finds the other's records (a real shell, a
    stand-in docker CLI on PATH that counts its runs)."""
    from ollama_gate.facts.host import HostState

    state = HostState().command(stack_dir="/opt/ollama-gate", project="ollama-gate", port=8880,
                                proxy_container="ollama-gate-proxy", ollama_container="ollama-gate-ollama",
                                packages=["curl"], paths=[], credential_file="", lock_wait=300)
    assert state.count(rec.COMPOSE_INPUTS) == 1 and state.count(rec.inputs_read()) == 1
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        f"#!/bin/sh\necho \"$*\" >> {tmp_path}/docker-runs\n"
        "case \"$*\" in --version) echo 'Docker version 26.1.5+dfsg1, build a72d7cd';; "
        "'compose version --short') echo 2.26.1;; esac\n")
    (bin_dir / "docker").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}

    def read(script):
        out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True, env=env).stdout
        runs = (tmp_path / "docker-runs").read_text().count("\n") if (tmp_path / "docker-runs").exists() else 0
        return DockerSetup().process(out.splitlines()), runs

    alone, runs = read(DockerSetup().command())
    assert (alone["docker"], alone["compose"], runs) == ("26.1.5+dfsg1", "2.26.1", 2)
    shared, runs = read(f"{rec.inputs_read()}; {DockerSetup().shared_command()}")
    assert (shared["docker"], shared["compose"], runs) == ("26.1.5+dfsg1", "2.26.1", 2)  # from the records
    env["COMPOSE_PROFILES"] = "x"  # an input changed: both asked again
    again, runs = read(f"{rec.inputs_read()}; {DockerSetup().shared_command()}")
    assert (again["docker"], again["compose"], runs) == ("26.1.5+dfsg1", "2.26.1", 4)
