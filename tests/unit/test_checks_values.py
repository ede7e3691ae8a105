"""The Base URL clients are given, and what the report says when models are missing."""

from __future__ import annotations

import os
import subprocess

import pytest

from ollama_gate import checks as v
from ollama_gate.settings import Settings


def test_client_url_brackets_an_ipv6_address_once_and_keeps_the_public_url():
    assert v.client_url(Settings(), "2001:db8::1") == "http://[2001:db8::1]:8880"
    assert v.client_url(Settings(), "[2001:db8::1]") == "http://[2001:db8::1]:8880"
    assert v.client_url(Settings(proxy_public_url="https://GPU1.BOX/"), "10.0.0.5") == "https://GPU1.BOX"


def test_a_model_list_without_a_listed_model_names_every_model_it_has():
    probe = v.Probe(v.ACCEPTED, "alice", "GET", "/api/tags", 200)
    settings = Settings(models=("gemma3:1b", "qwen3:0.6b"))
    got = v.judge("h1", settings, probe, {"status": 200, "models": ["all-minilm:latest", "gemma3:1b"]})
    assert (got.ok, got.actual, got.expected) == (
        False, "200, models listed: all-minilm:latest, gemma3:1b", "200 listing gemma3:1b, qwen3:0.6b")


def test_an_existing_report_file_that_cannot_be_written_is_refused_up_front(tmp_path):
    report = tmp_path / "report.json"
    report.write_text("{}\n")
    # Read-only for a user; root writes anyway, so there the file is made immutable.
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(report)], capture_output=True).returncode != 0:
            pytest.skip("root, and this file system has no immutable files (chattr +i)")
    else:
        report.chmod(0o444)
    try:
        err = v.report_path_error(Settings(verify_report=str(report)))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(report)], check=True)
    assert err is not None and err.startswith(f"verify_report: cannot write the report to {str(report)!r}: "), err
