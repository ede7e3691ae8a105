"""The host-state read is sent when deploy.py declares it, through pyinfra's own connector.

Real pyinfra (API mode, the @local connector: a real shell on this machine) and the real
HostState command, with a stack directory of the test's own (so its own lock). What is
checked: the read is on the host before ``declare`` returns (the lock is held: nothing
else takes it), the first ``known`` takes that read's answer without a second command,
and a host that is not connected gets its read from the first ``known`` as before.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import gevent
import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.host import Host
from pyinfra.context import ctx_host, ctx_state

from ollama_gate.facts.host import lock_path
from ollama_gate.facts.stack import StackFiles
from ollama_gate.operations import snapshot


def _args(stack_dir: Path) -> dict:
    return dict(stack_dir=str(stack_dir), project="og-test", port=1, proxy_container="og-test-proxy",
                ollama_container="og-test-ollama", packages=["curl"], paths=[], credential_file="", lock_wait=5)


@pytest.fixture
def local_host(monkeypatch):
    commands = []
    run = Host.run_shell_command

    def counted(self, command, *args, **kwargs):
        commands.append(str(command))
        return run(self, command, *args, **kwargs)

    monkeypatch.setattr(Host, "run_shell_command", counted)
    inventory = Inventory((["@local"], {}))
    state = State(inventory, Config())
    connect_all(state)
    return state, inventory.get_host("@local"), commands


def _lock_held(stack_dir: Path, within: float = 0.0) -> bool:
    """Whether a read has taken the lock of ``stack_dir`` (waiting up to ``within`` s)."""
    info = Path(lock_path(str(stack_dir)) + ".info")
    for _ in range(int(within / 0.05) + 1):
        if info.is_file() and info.read_text().strip() != "":
            return True
        gevent.sleep(0.05)  # lets the read's greenlet run, as pyinfra's preparation would not
    return False


def test_declare_sends_the_read_and_known_takes_its_answer(local_host, tmp_path):
    state, host, commands = local_host
    stack_dir = tmp_path / f"stack-{uuid.uuid4().hex[:8]}"
    (stack_dir / "proxy").mkdir(parents=True)
    (stack_dir / "compose.yml").write_text("services: {}\n")
    with ctx_state.use(state), ctx_host.use(host):
        snapshot.declare(**_args(stack_dir))
        # Sent and accepted: the host's shell runs it (takes the run's lock) with no known().
        assert len(commands) == 1 and "__OLLAMA_GATE_SECTION__" in commands[0]
        assert _lock_held(stack_dir, within=5)
        files = snapshot.known(StackFiles, stack_dir=str(stack_dir))
        assert f"{stack_dir}/compose.yml" in files and files[f"{stack_dir}/proxy"].kind == "d"
        assert snapshot.state()["lock"]["held"] is True
    assert len(commands) == 1  # no second command


def test_a_host_that_is_not_connected_is_read_by_the_first_known(local_host, tmp_path):
    state, host, commands = local_host
    stack_dir = tmp_path / f"stack-{uuid.uuid4().hex[:8]}"
    stack_dir.mkdir()
    host.connected = False
    with ctx_state.use(state), ctx_host.use(host):
        snapshot.declare(**_args(stack_dir))
        assert commands == [] and not _lock_held(stack_dir, within=0.3)
        assert snapshot.known(StackFiles, stack_dir=str(stack_dir))[str(stack_dir)].kind == "d"
    assert len(commands) == 1 and _lock_held(stack_dir)


def test_every_host_has_its_read_before_any_host_goes_on_preparing(monkeypatch):
    """Hosts are prepared in greenlets that do not yield; the first to go on would keep the
    others' commands from being sent. So each declare returns only once every read on its
    way has been accepted."""
    events = []

    class Slow:
        """A host that takes a while to accept a command, as an SSH session's start does."""

        def __init__(self, name, delay):
            self.name, self.delay, self.connected, self.connector = name, delay, True, None
            self.state = type("S", (), {"is_executing": False, "print_fact_input": False})()

        def run_shell_command(self, command, print_output, print_input, _stdin, **kwargs):
            gevent.sleep(self.delay)
            assert _stdin.readlines() == []  # nothing is written to the read's stdin
            events.append(f"accepted {self.name}")
            gevent.sleep(0.05)
            return True, None

    monkeypatch.setattr(snapshot, "_executor_kwargs", lambda on: {})
    monkeypatch.setattr(snapshot, "_answer", lambda status, output: {"lock": {"held": status}})

    def prepare(fake):
        with ctx_host.use(fake):
            snapshot.declare(**_args(Path("/opt/ollama-gate")))
            events.append(f"declared {fake.name}")

    gevent.joinall([gevent.spawn(prepare, Slow("a", 0.01)), gevent.spawn(prepare, Slow("b", 0.04))])
    assert sorted(events[:2]) == ["accepted a", "accepted b"], events
    assert sorted(events[2:]) == ["declared a", "declared b"], events


def test_over_ssh_declare_goes_on_once_the_exec_request_is_sent_not_answered(monkeypatch):
    """Over SSH the host replies to the exec request only once it has started the session
    (PAM, the login's scope); this machine goes on preparing meanwhile. paramiko's own
    SSHClient.exec_command runs here, over a transport that records what is sent and
    answers the exec request 0.2 s later: each declare returns after its host's request
    is sent and before it is answered; the transport's open_session is its own again."""
    import paramiko

    events = []

    class Channel:
        def __init__(self, name):
            self.name = name

        def settimeout(self, timeout):
            pass

        def exec_command(self, command):  # paramiko: send the request, then wait for the reply
            events.append(f"exec sent {self.name}")
            gevent.sleep(0.2)
            events.append(f"exec answered {self.name}")

        def makefile_stdin(self, *args):
            return None

        makefile = makefile_stderr = makefile_stdin

    class Transport:
        def __init__(self, name):
            self.name = name

        def open_session(self, timeout=None):
            gevent.sleep(0.01)  # the channel-open round trip
            return Channel(self.name)

    class SshHost:
        def __init__(self, name):
            self.name, self.connected = name, True
            client = paramiko.SSHClient()
            client._transport = Transport(name)
            self.connector = type("Connector", (), {"client": client})()
            self.state = type("S", (), {"is_executing": False, "print_fact_input": False})()

        def run_shell_command(self, command, print_output, print_input, _stdin, **kwargs):
            self.connector.client.exec_command(command)  # as pyinfra's SSH connector does
            _stdin.readlines()
            return True, None

    monkeypatch.setattr(snapshot, "_executor_kwargs", lambda on: {})
    monkeypatch.setattr(snapshot, "_answer", lambda status, output: {"lock": {"held": status}})
    hosts = [SshHost("a"), SshHost("b")]

    def prepare(fake):
        with ctx_host.use(fake):
            snapshot.declare(**_args(Path("/opt/ollama-gate")))
            events.append(f"declared {fake.name}")
            assert snapshot.state() == {"lock": {"held": True}}

    gevent.joinall([gevent.spawn(prepare, h) for h in hosts], raise_error=True)
    assert sorted(events[:2]) == ["exec sent a", "exec sent b"], events
    assert sorted(events[2:4]) == ["declared a", "declared b"], events
    assert sorted(events[4:]) == ["exec answered a", "exec answered b"], events
    assert all("open_session" not in vars(h.connector.client.get_transport()) for h in hosts)


def test_the_ssh_connection_sends_each_packet_at_once():
    """TCP_NODELAY on the socket of paramiko's transport (see snapshot._no_delay); a
    connector without one (local, docker) is left alone."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    sock = socket.create_connection(server.getsockname())
    try:
        transport = type("Transport", (), {"sock": sock})()
        client = type("Client", (), {"get_transport": lambda self: transport})()
        on = type("Host", (), {"connector": type("Connector", (), {"client": client})()})()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        snapshot._no_delay(on)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        snapshot._no_delay(type("Host", (), {"connector": object()})())  # no client: nothing to do
    finally:
        sock.close()
        server.close()
