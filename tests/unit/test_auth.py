"""The auth mode registry: every mode complete, no mode-name branch outside ollama_gate/auth/,
and an unknown mode an error everywhere instead of another mode's branch."""

import dataclasses
import re
from dataclasses import replace

import pytest

from ollama_gate import FILES_DIR, PROJECT_DIR, TEMPLATES, auth, checks, proxy
from ollama_gate.flavors import FLAVORS
from ollama_gate.secrets_file import Secret, SecretsFile
from ollama_gate.settings import Settings, settings_from_data

MODES = list(auth.MODES.values())


@pytest.mark.parametrize("mode", MODES, ids=[m.name for m in MODES])
def test_every_mode_is_complete(mode):
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert mode.image_setting in fields and mode.image_setting.startswith("images_")
    assert mode.flavor in FLAVORS
    assert FLAVORS[mode.flavor].lua or not mode.needs_lua
    assert (PROJECT_DIR / "templates" / mode.template).is_file()
    module = TEMPLATES.get_template(mode.template).module
    for macro in ("log_user", "http", "server", "location"):
        assert callable(getattr(module, macro)), (mode.name, macro)
    for name in mode.proxy_files:
        assert (FILES_DIR / "proxy" / name).is_file()
    assert mode.section in {f.name for f in dataclasses.fields(SecretsFile)}
    assert mode.new_command.startswith("new-")
    value = mode.new_value()
    assert mode.value_error("x", value, 20) is None and len(value) >= 32
    assert mode.new_value() != value
    assert mode.summary_label and mode.client_hint and mode.value_kind
    assert mode.challenge("r") != "" and 'realm="r"' in mode.refusal("r")
    assert "alice" in mode.thingsboard_fields("alice") and "$V" in mode.curl_option("alice", "$V")


def test_modes_do_not_share_what_tells_them_apart():
    for attr in ("name", "section", "new_command", "credential_file", "template", "summary_label"):
        values = [getattr(m, attr) for m in MODES]
        assert len(set(values)) == len(values), attr


def test_the_settings_take_their_modes_from_the_registry():
    assert settings_from_data({"auth_mode": MODES[-1].name}).auth_mode == MODES[-1].name
    with pytest.raises(Exception, match="must be one of " + ", ".join(repr(n) for n in auth.MODE_NAMES)):
        settings_from_data({"auth_mode": "digest"})


def test_an_unknown_mode_is_an_error_everywhere_never_another_branch():
    unknown = replace(Settings(), auth_mode="digest")
    with pytest.raises(auth.UnknownAuthMode, match="'digest' is not an auth mode"):
        auth.mode("digest")
    with pytest.raises(auth.UnknownAuthMode):
        auth.mode(None)
    with pytest.raises(auth.UnknownAuthMode):
        unknown.proxy_image
    with pytest.raises(auth.UnknownAuthMode):
        checks.challenges(unknown)
    with pytest.raises(auth.UnknownAuthMode):
        checks.plan(unknown, {"a": Secret("a", "v" * 40)})
    with pytest.raises(auth.UnknownAuthMode):
        checks.summary("h", "h", unknown, {})
    with pytest.raises(ValueError, match="auth_mode"):
        proxy.render_proxy_config(unknown)
    with pytest.raises(auth.UnknownAuthMode):
        SecretsFile(PROJECT_DIR / "x", {}, {}).section("digest")
    with pytest.raises(ValueError, match="no section"):
        auth.by_section("tokens")


def test_no_mode_name_literal_outside_the_auth_package():
    # The check: grep -rnE '"(basic|bearer)"' ollama_gate deploy.py verify.py templates
    pattern = re.compile("[\"'](" + "|".join(map(re.escape, auth.MODE_NAMES)) + ")[\"']")
    found = []
    paths = [*(PROJECT_DIR / "ollama_gate").rglob("*.py"), PROJECT_DIR / "deploy.py", PROJECT_DIR / "verify.py",
             PROJECT_DIR / "uninstall.py", *(PROJECT_DIR / "templates").rglob("*.j2")]
    assert len(paths) > 20
    for path in paths:
        if (PROJECT_DIR / "ollama_gate" / "auth") in path.parents:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(PROJECT_DIR)}:{number}: {line.strip()}")
    assert found == []


@pytest.mark.parametrize("mode", MODES, ids=[m.name for m in MODES])
def test_each_mode_renders_only_its_own_block(mode):
    files = proxy.render_proxy_config(replace(Settings(), auth_mode=mode.name))
    conf = files[proxy.CONF_FILENAME]
    assert f"/etc/ollama-gate/auth/{mode.credential_file}" in conf
    for other in MODES:
        if other is not mode:
            assert other.credential_file not in conf
    assert set(mode.proxy_files) <= set(files)
