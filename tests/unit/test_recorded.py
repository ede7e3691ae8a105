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
