"""What the README and group_data/all.py say is what the code does: credential strength,
unattended commands, git-ignored operator files, the allowed model route, bench scripts
that run to their end."""

from __future__ import annotations

import base64
import re
import subprocess

from pyflakes.api import check as pyflakes_check
from pyflakes.reporter import Reporter

from ollama_gate import PROJECT_DIR
from ollama_gate.proxy import ALLOWED_PATTERNS
from ollama_gate.secrets_file import KEY_BITS, PASSWORD_BITS, generate

README = (PROJECT_DIR / "README.md").read_text()
ALL = (PROJECT_DIR / "group_data" / "all.py").read_text()


def test_generated_credentials_have_the_stated_strength():
    raw = base64.urlsafe_b64decode(generate("users") + "==")
    assert len(raw) * 8 == PASSWORD_BITS
    key = generate("keys")
    assert key.startswith("og_") and len(base64.urlsafe_b64decode(key[3:] + "==")) * 8 == KEY_BITS


def test_one_truth_for_the_password_strength():
    for text, where in ((README, "README.md"), (ALL, "group_data/all.py")):
        stated = set(re.findall(r"(\d+)[- ]bit", text))
        assert str(PASSWORD_BITS) in stated, where
        # Any other number of bits would be a second truth about passwords.
        assert stated <= {str(PASSWORD_BITS), str(KEY_BITS)}, (where, stated)


def test_readme_deploys_meant_to_run_unattended_carry_yes():
    for line in README.splitlines():
        m = re.search(r"\bpyinfra (.*?)(deploy|verify|uninstall)\.py(.*)$", line)
        if not m or "--dry" in line:
            continue
        # The one interactive example says that it asks.
        assert "-y" in m.group(1).split() or "asks before applying" in line, line
    assert "Press enter to execute" in README  # what the prompt is


def test_operator_files_are_git_ignored():
    for path in ("pyinfra-debug.log", "inventory/gpu.local.py", "secrets.yml"):
        proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=PROJECT_DIR)
        assert proc.returncode == 0, f"{path} is not git-ignored"
    assert subprocess.run(["git", "check-ignore", "-q", "inventory/prod.py"], cwd=PROJECT_DIR).returncode == 1


def test_model_retrieve_route_is_allowed_and_documented():
    assert any(re.fullmatch(p, "/v1/models/gemma3:1b") for p in ALLOWED_PATTERNS)
    assert not any(re.fullmatch(p, "/v1/models/a/b") for p in ALLOWED_PATTERNS)
    assert "`/v1/models/{model}`" in README


class _Collect(Reporter):
    def __init__(self):
        self.messages = []

    def flake(self, message):
        self.messages.append(str(message))

    def unexpectedError(self, filename, msg):
        self.messages.append(f"{filename}: {msg}")

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.messages.append(f"{filename}:{lineno}: {msg}")


def test_bench_scripts_name_nothing_undefined():
    """proxy_bench.py once printed its figures and then died on an undefined name."""
    for script in sorted((PROJECT_DIR / "bench").glob("*.py")):
        reporter = _Collect()
        pyflakes_check(script.read_text(), str(script), reporter)
        undefined = [m for m in reporter.messages if "undefined name" in m or "Error" in m]
        assert not undefined, undefined


def test_bench_strips_auth_from_every_proxying_location():
    """proxy_bench.py's no-auth baseline is the product's config minus its auth lines; a new
    allowed route or pattern once made it stop before measuring anything."""
    import importlib.util

    from ollama_gate import proxy
    from ollama_gate.settings import Settings

    spec = importlib.util.spec_from_file_location("proxy_bench", PROJECT_DIR / "bench" / "proxy_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    conf = proxy.render_proxy_config(Settings())[proxy.CONF_FILENAME]
    assert not re.search(r"^\s*auth_basic", bench.without_auth(conf), re.M)
