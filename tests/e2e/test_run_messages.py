"""What a run tells the operator: which credential names a rotation changed (names only),
where the verification wrote its report, and both URLs labelled (where the host verified
its proxy, and the Base URL clients use), in the output and in the report."""

from __future__ import annotations

import json

from ollama_gate.auth import MODES

from .helpers import cli, run
from .test_deploy import credential


def test_rotation_names_what_changed_and_the_report_says_both_urls(deployed, secrets_copy, tmp_path):
    lab = deployed["lab"]
    host = next(h for h in lab["hosts"] if MODES[h["auth_mode"]].needs_installation_key)
    name, old = credential(lab, host)
    new = cli(secrets_copy, "rotate", name)
    report = tmp_path / "report.json"
    result = run("--limit", host["name"], secrets=secrets_copy, report=report)
    assert result.returncode == 0, result.output[-3000:]
    assert f"credentials changed: {name}" in result.output
    assert old not in result.output and new not in result.output
    assert f"verification report written to {report}" in result.output
    assert "verified at http://127.0.0.1:8880 (from the host itself" in result.output
    assert f"Base URL:        {host['proxy_url']}" in result.output
    entry = json.loads(report.read_text())["hosts"][host["name"]]
    assert entry["base_url"] == host["proxy_url"]  # what clients use (proxy_public_url here)
    assert entry["verified_at"] == "http://127.0.0.1:8880"

    again = run("--limit", host["name"], secrets=secrets_copy)
    assert "credentials changed" not in again.output
