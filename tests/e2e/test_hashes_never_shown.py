"""The .htpasswd file is a pure function of the secrets (salts are HMACs under the secrets
file's installation key): the deploy never reads the host's hashes back, so none is ever in
pyinfra's output, at -vvv neither; a rerun renders the same bytes (no change)."""

from __future__ import annotations

from ollama_gate.auth import MODES

from .conftest import deploy, ssh


def test_no_hash_in_vvv_output_and_rerun_is_no_change(deployed):
    lab = deployed["lab"]
    index, host = next((i, h) for i, h in enumerate(lab["hosts"]) if MODES[h["auth_mode"]].needs_installation_key)
    path = f"/opt/ollama-gate/auth/{MODES[host['auth_mode']].credential_file}"
    run = deploy("-vvv", "--limit", host["name"])
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed() == {}, run.changed()  # same bytes without reading them back
    lines = ssh(lab, index, f"grep -v '^#' {path}").stdout.split()
    hashes = [line.split(":", 1)[1] for line in lines]
    assert hashes, "no user in the credential file"
    for h in hashes:
        assert h not in run.output
        # Not even the part after the scheme prefix (the salt and digest).
        assert h.split("}")[-1].split("$")[-1] not in run.output
    assert f"cat '{path}'" not in run.output  # the file is never read back
