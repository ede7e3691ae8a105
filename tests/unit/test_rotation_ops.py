"""The two operations of a service credential rotation, run with a stand-in host.

``gateway.backends_accept`` (the gateway, before its reload) and
``credentials.previous_dropped`` (a backend, after the gateway's reload). The stand-in host
answers facts from a table; the curl it is asked to run is read back from its stdin.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pyinfra.api import FileUploadCommand, FunctionCommand

from ollama_gate.facts.host import ProxyRuntime
from ollama_gate.facts.http import BATCH_MARK, HttpProbes
from ollama_gate.facts.stack import FileState
from ollama_gate.gateway import Backend, Pool
from ollama_gate.operations import credentials, gateway, snapshot, stack, util
from ollama_gate.secrets_file import Secret

KEY = "og_" + "n" * 43
SERVICE = Secret("ollama-gate-gateway", f"Bearer {KEY}")
POOL = Pool(backends=(Backend("gpu1", "10.0.0.11:8880"), Backend("gpu2", "10.0.0.12:8880")))
PATH = "/opt/ollama-gate/auth/keys.sha256"


class Host:
    def __init__(self, name="h", answers=(), active=("gw", "gpu1"), failed=(), executing=True):
        self.name = name
        self.answers = list(answers)  # per HttpProbes call: {url part: status}
        self.asked: list[tuple[list[str], str]] = []
        self.logs: list[str] = []
        self.print_prefix = f"[{name}] "
        self.data = {}
        self.state = SimpleNamespace(
            is_executing=executing, activated_hosts=[SimpleNamespace(name=n) for n in active],
            failed_hosts=[SimpleNamespace(name=n) for n in failed], config=SimpleNamespace(DIFF=False))
        self.facts = {"StackFiles": {PATH: FileState("f", 0o640, 0, 65534, "0" * 64)},
                      "ProxyLoaded": ProxyRuntime(loaded="a", on_disk="a", state="running")}

    def get_fact(self, fact, *args, _stdin=None, **kwargs):
        if fact.__name__ != "HttpProbes":
            return self.facts[fact.__name__]
        text = _stdin.getvalue()
        self.asked.append((kwargs["requests"], fact().command(**kwargs)))
        assert KEY in text  # the credential goes on stdin ...
        statuses = self.answers.pop(0)
        out = []
        for i, block in enumerate(text.split("next\n")):
            status = next(s for part, s in statuses.items() if part in block)
            out += [f"HTTP/1.1 {status} X", "", "", f"{BATCH_MARK} {i} {status} 0"]
        return fact().process(out)

    def noop(self, message):
        self.logs.append(message)

    def log(self, message, *args, **kwargs):
        self.logs.append(message)

    def get_temp_filename(self, *args, **kwargs):
        return "/tmp/upload"


@pytest.fixture
def on(monkeypatch):
    def use(fake):
        for module in (gateway, credentials, snapshot, stack, util):
            monkeypatch.setattr(module, "host", fake)
        monkeypatch.setattr(stack, "state", fake.state)
        monkeypatch.setattr(gateway, "RETRY_INTERVAL", 0)
        monkeypatch.setattr(gateway, "WORKERS_SECONDS", 0)
        return fake
    return use


def changed(value):
    return SimpleNamespace(changed=value)


def accept(fake, **kwargs):
    return list(gateway.backends_accept._inner(SERVICE, POOL, "/opt/ollama-gate", "proxy", **kwargs))


def test_the_gateway_waits_until_every_backend_accepts_its_new_credential(on):
    fake = on(Host(answers=[{"10.0.0.11": 200, "10.0.0.12": 401}, {"10.0.0.11": 200, "10.0.0.12": 401},
                            {"10.0.0.11": 200, "10.0.0.12": 200}]))
    assert accept(fake, changed_by=[changed(True)]) == []  # waits, changes nothing
    assert len(fake.asked) == 3  # both backends in each one command, until none refuses
    for requests, command in fake.asked:
        assert requests == ["GET http://10.0.0.11:8880/api/tags", "GET http://10.0.0.12:8880/api/tags"]
        assert command == HttpProbes().command(requests) and KEY not in " ".join(requests)
    assert fake.logs[-1] == "every backend accepts the gateway's credential 'ollama-gate-gateway'"


def test_a_backend_answering_without_refusing_is_not_waited_for(on):
    # A backend whose proxy is down gets no request from the gateway anyway.
    fake = on(Host(answers=[{"10.0.0.11": 200, "10.0.0.12": 0}]))
    assert accept(fake, changed_by=[changed(True)]) == [] and len(fake.asked) == 1


def test_an_unchanged_credential_the_proxy_has_loaded_asks_nothing(on):
    fake = on(Host())
    assert accept(fake, changed_by=[changed(False)]) == [] and fake.asked == []
    # Not loaded (a run killed before its reload): asked before the reload that follows.
    fake = on(Host(answers=[{"10.0.0": 200}]))
    fake.facts["ProxyLoaded"] = ProxyRuntime(loaded="a", on_disk="b", state="running")
    assert accept(fake, changed_by=[changed(False)]) == [] and len(fake.asked) == 1


def test_a_backend_that_keeps_refusing_fails_the_gateway_before_its_reload(on, monkeypatch):
    monkeypatch.setattr(gateway, "ACCEPT_SECONDS", 0)
    fake = on(Host(answers=[{"10.0.0.11": 401, "10.0.0.12": 200}]))
    commands = accept(fake, changed_by=[changed(True)])
    assert len(commands) == 1 and isinstance(commands[0], FunctionCommand)
    message = commands[0].args[0]
    assert message.startswith("the backends gpu1 do not accept the gateway's new credential 'ollama-gate-gateway'")
    assert KEY not in message


def drop(fake, kept="kept text", gw="gw"):
    return list(credentials.previous_dropped._inner(
        path=PATH, content="final text\n", kept=lambda: kept, gateway=gw, stack_dir="/opt/ollama-gate",
        mode=0o640, gid=65534))


def test_the_backend_drops_the_previous_value_once_its_gateway_switched(on):
    commands = drop(on(Host(name="gpu1")))
    assert isinstance(commands[0], FileUploadCommand) and commands[0].src.getvalue() == "final text\n"
    assert commands[-1] == (f"chown 0:65534 {PATH}.ollama-gate-new && chmod 640 {PATH}.ollama-gate-new "
                            f"&& mv -fT {PATH}.ollama-gate-new {PATH}")


@pytest.mark.parametrize("host,why", [
    (dict(failed=("gw",)), "its gateway gw failed in this run, before or at its reload"),
    (dict(active=("gpu1",)), "its gateway gw is not in this run"),
])
def test_the_previous_value_stays_while_the_gateway_has_not_switched(on, host, why):
    fake = on(Host(name="gpu1", **host))
    assert drop(fake) == []
    assert fake.logs == [f"the previous credential stays accepted ({why})"]


def test_nothing_kept_nothing_to_drop(on):
    fake = on(Host(name="gpu1"))
    assert drop(fake, kept=None) == [] and fake.logs == ["no previous credential of the gateway is kept"]


def test_tls_backends_are_asked_by_name_against_the_gateways_bundle_never_insecure(on):
    fake = on(Host(answers=[{"gpu1.lan": 200}]))
    tls_pool = Pool(backends=(Backend("gpu1", "10.0.0.11:8443", tls_name="gpu1.lan"),), tls=True)
    seen = []
    real = fake.get_fact

    def spy(fact, *args, _stdin=None, **kwargs):
        seen.append(_stdin.getvalue())
        return real(fact, *args, _stdin=_stdin, **kwargs)
    fake.get_fact = spy
    assert list(gateway.backends_accept._inner(SERVICE, tls_pool, "/opt/ollama-gate", "proxy",
                                               changed_by=[changed(True)], trust_file="/opt/b.pem")) == []
    assert fake.asked[0][0] == ["GET https://gpu1.lan:8443/api/tags"]
    assert 'cacert = "/opt/b.pem"' in seen[0] and 'resolve = "gpu1.lan:8443:10.0.0.11"' in seen[0]
    assert "insecure" not in seen[0]


def test_the_reload_returns_once_the_old_workers_take_no_request(tmp_path):
    """The old workers are listed before the reload and waited for after it (bounded),
    before the record says the proxy loaded the disk: a step after the reload (a backend
    dropping the gateway's previous credential) never meets a request of an old worker."""
    import subprocess

    from ollama_gate.operations.stack import _OLD_WORKERS_GONE, _WORKERS, reload_command

    command = reload_command("ollama-gate-proxy", "/opt/ollama-gate/proxy", "/opt/ollama-gate")
    listed, reload_at = command.index("old=$(og_workers)"), command.index("nginx -s reload")
    assert listed < reload_at < command.index(_OLD_WORKERS_GONE) < command.index(".proxy-loaded.new")
    # The wait itself, in a real shell, with og_workers answering from a file: it ends when
    # no old worker is left.
    workers = tmp_path / "workers"
    script = (f"og_workers() {{ cat {workers}; }}; old='11 12'; "
              f"( sleep 0.3; echo '13 14' > {workers} ) & {_OLD_WORKERS_GONE}; echo rounds=$i")
    workers.write_text("11 12\n")
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30).stdout
    rounds = int(out.strip().split("=")[1])
    assert 1 <= rounds < 20, out
    # Bounded: 100 rounds of 0.1 s when an old worker never goes (not waited for here).
    assert "while [ $i -lt 100 ]" in _OLD_WORKERS_GONE and "sleep 0.1" in _OLD_WORKERS_GONE
    assert "docker inspect -f '{{.State.Pid}}' ollama-gate-proxy" in _WORKERS.format(container="ollama-gate-proxy")
