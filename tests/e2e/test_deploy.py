"""deploy.py on real lab hosts: first run, no-change rerun, one credential changed, dry run,
bad settings stopped before any host is touched."""

from __future__ import annotations

from pathlib import Path

import yaml

from ollama_gate import auth
from ollama_gate.images import archive_filename
from ollama_gate.secrets_file import load_secrets

from .conftest import deploy, ssh
from .helpers import auth_header, status_of


def credential(lab, host, secrets_path=None):
    secrets = load_secrets(secrets_path or lab["secrets_file"])
    name = host["credentials"][0]["name"]
    return name, secrets.section(host["auth_mode"])[name].reveal()


def host_of_mode(lab, mode):
    """(index, entry) of the first lab host in auth mode ``mode``."""
    return next((i, h) for i, h in enumerate(lab["hosts"]) if h["auth_mode"] == mode)


def set_secret(secrets_path, section, name, value):
    data = yaml.safe_load(secrets_path.read_text())
    data[section][name] = value
    secrets_path.write_text(yaml.safe_dump(data))


def stack_files(lab, index):
    out = ssh(lab, index, "cd /opt/ollama-gate && find . -type f ! -name '*.previous' | sort | xargs sha256sum").stdout
    return dict(reversed(line.split()) for line in out.splitlines())


def containers(lab, index):
    out = ssh(lab, index, "docker ps --format '{{.Names}} {{.ID}} {{.Status}}' | sort").stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines()}


def test_first_deploy_serves_both_modes(deployed):
    lab = deployed["lab"]
    for host in lab["hosts"]:
        name, value = credential(lab, host)
        url = host["proxy_url"] + "/api/tags"
        assert status_of(url, auth_header(host["auth_mode"], name, value)) == 200
        assert status_of(url, auth_header(host["auth_mode"], name, value + "x")) == 401
        assert status_of(url) == 401
    for index, host in enumerate(lab["hosts"]):
        listed = ssh(lab, index, "docker exec ollama-gate-ollama ollama list").stdout
        assert "gemma3:1b" in listed
        # Credential files: root-owned, the proxy's group, no world bits; Ollama unpublished.
        perms = ssh(lab, index, "stat -c '%U %a %n' /opt/ollama-gate/auth /opt/ollama-gate/auth/*").stdout
        assert all(line.split()[0] == "root" and line.split()[1][-1] == "0" for line in perms.splitlines()), perms
        ports = ssh(lab, index, "docker port ollama-gate-ollama").stdout
        assert ports.strip() == ""


def test_second_run_changes_nothing(deployed):
    rerun = deploy()
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert rerun.results(), "no results table in pyinfra's output"
    assert rerun.changed() == {}, rerun.changed()


def test_changed_password_changes_only_the_credential_file(deployed, secrets_copy):
    lab = deployed["lab"]
    basic, host = host_of_mode(lab, "basic")
    name, old = credential(lab, host)
    before_files = stack_files(lab, basic)
    before_containers = containers(lab, basic)
    set_secret(secrets_copy, "users", name, "a-new-password-for-the-e2e-test-0123")
    run = deploy("--limit", host["name"], secrets=secrets_copy)
    assert run.returncode == 0, run.output[-3000:]
    assert list(run.changed()) == ["Write the credential file of the auth mode (names only in output, never values)."]

    after_files = stack_files(lab, basic)
    assert {k for k in after_files if after_files[k] != before_files.get(k)} == {"./auth/htpasswd"}
    assert containers(lab, basic) == before_containers  # nothing re-created or restarted
    url = host["proxy_url"] + "/api/tags"
    assert status_of(url, auth_header("basic", name, "a-new-password-for-the-e2e-test-0123")) == 200
    assert status_of(url, auth_header("basic", name, old)) == 401


def test_dry_run_shows_the_change_but_makes_none(deployed, secrets_copy):
    lab = deployed["lab"]
    bearer, host = host_of_mode(lab, "bearer")
    name, old = credential(lab, host)
    before = stack_files(lab, bearer)
    new_key = "og_dry-run-key-that-must-never-be-printed-0123456789"
    set_secret(secrets_copy, "keys", name, new_key)
    run = deploy("--dry", "--diff", "--limit", host["name"], secrets=secrets_copy, yes=False)
    assert run.returncode == 0, run.output[-3000:]
    assert "contents not shown" in run.output
    detected = {line.strip().split("   ")[0]: line for line in run.output.splitlines() if "Write the" in line}
    assert f"1 ({host['name']})" in detected["Write the credential file of the auth mode (names only in output, never values)."]
    assert f"1 ({host['name']})" not in detected["Write the Compose file."]
    assert new_key not in run.output and old not in run.output
    assert stack_files(lab, bearer) == before
    assert status_of(host["proxy_url"] + "/api/tags", auth_header("bearer", name, old)) == 200


def test_bad_settings_stop_before_any_host_is_touched(deployed):
    lab = deployed["lab"]
    before = [stack_files(lab, i) for i in range(len(lab["hosts"]))]
    run = deploy("--data", "proxy_port=70000", "--data", "models=['evil.example.com/x:1']")
    assert run.returncode != 0
    assert "no host was changed" in run.output
    for host in lab["hosts"]:
        assert f"{host['name']}: proxy_port: must be from 1 to 65535, got 70000" in run.output
    assert [stack_files(lab, i) for i in range(len(lab["hosts"]))] == before


def test_port_taken_by_another_process_is_refused(deployed):
    lab = deployed["lab"]
    # sshd holds port 22 on every lab host: publishing the proxy there must be refused.
    run = deploy("--limit", lab["hosts"][0]["name"], "--data", "proxy_port=22")
    assert run.returncode != 0
    assert "proxy_port: port 22 on 0.0.0.0 is already in use by" in run.output, run.output
    assert "Write the Compose file" not in run.changed()


def test_one_failing_host_does_not_hide_the_others(deployed):
    lab = deployed["lab"]
    if len(lab["hosts"]) < 2:
        import pytest
        pytest.skip("needs two lab hosts")
    broken, healthy = lab["hosts"][0], lab["hosts"][1]
    # A directory where the compose file belongs: writing it fails on that host only.
    assert ssh(lab, 0, "mv /opt/ollama-gate/compose.yml /root/compose.yml.saved && "
                       "mkdir /opt/ollama-gate/compose.yml").returncode == 0
    try:
        run = deploy()
        assert run.returncode != 0
        # (success, error, no change): the broken host fails, every other host is unchanged.
        assert run.results()["Write the Compose file."] == (0, 1, len(lab["hosts"]) - 1)
        assert f"[{healthy['name']}] endpoint verified" in run.output
        assert f"[{broken['name']}] endpoint verified" not in run.output
    finally:
        assert ssh(lab, 0, "rm -rf /opt/ollama-gate/compose.yml && "
                           "mv /root/compose.yml.saved /opt/ollama-gate/compose.yml").returncode == 0
    healed = deploy()
    assert healed.returncode == 0 and healed.changed() == {}, healed.output[-3000:]


def test_a_host_failing_mid_run_fails_alone_and_is_named(deployed, tmp_path):
    """One path for a host's failure: an image archive of the basic host's proxy vanishes
    after the settings were checked, so that host fails at images.present with the message
    naming the file; the bearer host (which needs other archives) deploys and verifies."""
    lab = deployed["lab"]
    if len(lab["hosts"]) < 2:
        import pytest
        pytest.skip("needs two lab hosts")
    basic = next(h for h in lab["hosts"] if h["auth_mode"] == auth.MODE_NAMES[0])
    other = next(h for h in lab["hosts"] if h["auth_mode"] != basic["auth_mode"])
    archives = tmp_path / "images"
    archives.mkdir()
    for tar in Path(lab["images_archive_dir"]).glob("*.tar"):
        (archives / tar.name).symlink_to(tar)
    proxy_image = lab["images"][auth.mode(basic["auth_mode"]).image_setting.removeprefix("images_")]
    vanishing = archives / archive_filename(proxy_image)
    assert vanishing.exists()

    run = deploy("--data", f"images_archive_dir={archives}", files=("tests/e2e/deploys/archive_vanishes.py",),
                 env={"OLLAMA_GATE_TEST_VANISH": str(vanishing)})
    assert run.returncode != 0
    assert (f"[{basic['name']}] images_source='archive' but images_archive_dir={str(archives)!r} "
            f"lacks {vanishing}") in run.output, run.output[-4000:]
    name = next(n for n in run.results() if "Ensure the stack's images are on the host" in n)
    # (success, error, no change): each basic host lacks the archive, the others had theirs.
    basics = sum(h["auth_mode"] == basic["auth_mode"] for h in lab["hosts"])
    assert run.results()[name] == (0, basics, len(lab["hosts"]) - basics)
    assert f"[{other['name']}] endpoint verified" in run.output
    assert f"[{basic['name']}] endpoint verified" not in run.output

    healed = deploy()
    assert healed.returncode == 0 and healed.changed() == {}, healed.output[-3000:]
