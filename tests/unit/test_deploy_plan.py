"""deploy.py's plan without a host: which files it writes, with which owner and mode.

Every pyinfra operation of ollama_gate.operations is replaced by a recorder and deploy.py
runs as the pyinfra CLI would run it for one host. The end-to-end tests see the modes on a
real host; this sees them in a second, so a credential file made world-readable (or the
Ollama port published, tests/unit/test_compose_render.py) fails the fast suites.
"""

from __future__ import annotations

import importlib
import pkgutil
import runpy
import sys

import pyinfra
import pytest
import yaml

import ollama_gate.config
import ollama_gate.operations
from ollama_gate import PROJECT_DIR
from ollama_gate.config import HostConfig
from ollama_gate.secrets_file import Secret
from ollama_gate.settings import settings_from_data

USERS = {"alice": Secret("alice", "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G")}
KEYS = {"ci": Secret("ci", "og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0")}


class FakeOp(list):
    """What an operation call returns: nothing changed (and iterable, for helpers returning lists)."""

    changed = False
    will_change = False
    did_change = staticmethod(lambda: False)
    did_not_change = staticmethod(lambda: True)
    did_succeed = staticmethod(lambda: True)
    did_error = staticmethod(lambda: False)


class FakeHost:
    """A fresh host: every fact gives its default (nothing there yet), except these."""

    name = "gate-1"
    data = {}
    facts = {"MemoryTotal": 16384}

    def get_fact(self, fact, *args, **kwargs):
        if fact.__name__ in self.facts:
            return self.facts[fact.__name__]
        default = getattr(fact, "default", None)
        return default() if callable(default) else None

    def noop(self, *args, **kwargs):
        pass


def plan_of(monkeypatch, data: dict, credentials: dict) -> list[tuple[str, dict]]:
    settings = settings_from_data(data)
    cfg = HostConfig(FakeHost.name, settings, credentials, installation_key=b"k" * 32)
    return [(op, kwargs) for op, kwargs, _ in run_deploy(monkeypatch, cfg)]


def run_deploy(monkeypatch, cfg: HostConfig) -> list[tuple[str, dict, int]]:
    """(operation, its arguments, the line of deploy.py calling it) of deploy.py's run for
    ``cfg``'s host, every operation replaced by a recorder."""
    calls: list[tuple[str, dict, int]] = []
    fake_host = FakeHost()
    fake_host.name = cfg.name
    for info in pkgutil.iter_modules(ollama_gate.operations.__path__):
        module = importlib.import_module(f"ollama_gate.operations.{info.name}")
        if hasattr(module, "host"):
            monkeypatch.setattr(module, "host", fake_host)
        for attr, value in list(vars(module).items()):
            if callable(value) and hasattr(value, "_inner") and getattr(value, "__module__", None) == module.__name__:
                def record(*args, _name=f"{info.name}.{attr}", **kwargs):
                    line = sys._getframe(1).f_lineno
                    if callable(kwargs.get("content")):
                        # Rendered inside the operation (it reads the host there).
                        kwargs["content"] = kwargs["content"]()
                    calls.append((_name, kwargs, line))
                    return FakeOp()
                monkeypatch.setattr(module, attr, record)
    # Nothing is read from a host: every fact gets FakeHost's answer.
    monkeypatch.setattr(ollama_gate.operations.snapshot, "_read", lambda args, stdin=None: {})
    monkeypatch.setattr(pyinfra, "host", fake_host)
    monkeypatch.setattr(pyinfra, "inventory", [fake_host])
    monkeypatch.setattr(ollama_gate.config, "config_for_host", lambda host, inventory: cfg)
    runpy.run_path(str(PROJECT_DIR / "deploy.py"), run_name="deploy")
    return calls


def written(calls, path):
    found = [kwargs for name, kwargs in calls if name == "stack.file" and kwargs["path"] == path]
    assert len(found) == 1, [kw.get("path") for n, kw in calls if n == "stack.file"]
    return found[0]


@pytest.mark.parametrize("mode,creds,filename,gid", [("basic", USERS, "htpasswd", 101),
                                                      ("bearer", KEYS, "keys.sha256", 65534)])
def test_credential_file_is_root_and_the_proxy_workers_only(monkeypatch, mode, creds, filename, gid):
    calls = plan_of(monkeypatch, {"auth_mode": mode, "verify_enabled": False}, creds)
    cred = written(calls, f"/opt/ollama-gate/auth/{filename}")
    assert cred["mode"] == 0o640
    assert cred["gid"] == gid
    assert cred["sensitive"] is True
    auth_dirs = [kw for name, kw in calls if name == "stack.directory" and kw["path"] == "/opt/ollama-gate/auth"]
    assert [(d["mode"], d["gid"]) for d in auth_dirs] == [(0o750, gid)]
    # Nothing the deploy writes is readable by others, except the compose file.
    for name, kwargs in calls:
        if name == "stack.file" and not kwargs["path"].endswith("/compose.yml"):
            assert kwargs["mode"] & 0o007 == 0, kwargs["path"]


@pytest.mark.parametrize("mode,creds", [("basic", USERS), ("bearer", KEYS)])
def test_no_secret_reaches_an_operation_argument_except_the_sensitive_file(monkeypatch, mode, creds):
    calls = plan_of(monkeypatch, {"auth_mode": mode, "verify_enabled": False}, creds)
    value = next(iter(creds.values())).reveal()
    for name, kwargs in calls:
        assert value not in repr(kwargs), name


def test_the_compose_file_written_publishes_only_the_proxy(monkeypatch):
    calls = plan_of(monkeypatch, {"verify_enabled": False, "proxy_bind": "127.0.0.1", "proxy_port": 9443}, USERS)
    compose = yaml.safe_load(written(calls, "/opt/ollama-gate/compose.yml")["content"])
    assert "ports" not in compose["services"]["ollama"]
    assert compose["services"]["proxy"]["ports"] == ["127.0.0.1:9443:80"]


def test_operation_names_are_the_same_for_every_host(monkeypatch):
    """pyinfra's results table groups hosts by operation: a name must not carry per-host
    values (port, paths, file names only some hosts get, models), or hosts without that
    value are counted under it."""
    variants = [
        ("basic", USERS, {"proxy_port": 8880}),
        ("bearer", KEYS, {"proxy_tls": "self-signed", "proxy_port": 18443, "stack_dir": "/srv/gate",
                          "models": ["qwen2.5:0.5b"], "images_source": "registry",
                          "docker_install_method": "distro"}),
    ]
    plans = []
    for mode, creds, extra in variants:
        with monkeypatch.context() as m:
            calls = plan_of(m, {"auth_mode": mode, "verify_enabled": False, **extra}, creds)
        names = [kwargs.get("name", "") for _, kwargs in calls]
        for value in ("8880", "18443", "/opt/ollama-gate", "/srv/gate", "gemma3", "qwen2.5", "distro", "official"):
            assert not any(value in n for n in names), (value, [n for n in names if value in n])
        plans.append([n for n in names if n.startswith("Write the proxy config")])
    assert plans[0] == plans[1] and len(plans[0]) >= 3
