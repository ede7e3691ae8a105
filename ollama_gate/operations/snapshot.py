"""This run's one read of each host (the HostState fact), shared by the operations.

pyinfra asks a fact again each time an operation asks for it; a deploy's operations ask
the same few questions (the stack directory's files, Docker's state) over and over, a
round trip each. deploy.py declares once what the run will ask (``declare``); all of it is
read in ONE command (which also takes the host's deploy lock), and the operations get the
answers from there (``known``). The same command makes the verification's requests
(operations/endpoint.py, ``probes_with_the_read``: their curl config is its stdin), whose
answers verify a run that changes nothing on the host.

The read is sent to the host as soon as deploy.py declares it (``_Read``): the host reads
while this machine prepares the rest of the run, and the first operation that asks finds
the answer waiting (a no-change rerun of 4 lab hosts spent ~0.4 s waiting for their reads
after the preparation; now they overlap). A host that is not connected then is read by the
first operation that asks.

The answers are those of the start of the run, under the lock. That is right for every
question an operation asks about something no earlier operation of the run changes (each
stack file is written by one operation only). Where an earlier operation may have changed
the answer (Docker installed or started, a package installed as a dependency), the
operation reads the fact again with ``fresh`` before it acts, and says why in a comment;
a no-change rerun never needs to.
"""

from __future__ import annotations

import os
import socket

import gevent
from click import echo
from gevent.event import Event
from pyinfra import host
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.context import ctx_host

from ..facts.host import SECTION_MARK, HostState, host_state_parts

# (id of the pyinfra state, host name) -> HostState arguments / its parsed answer.
_declared: dict[tuple[int, str], dict] = {}
_answers: dict[tuple[int, str], dict] = {}
# (id of the pyinfra state, host name) -> the read sent while deploy.py was prepared.
_sent: dict[tuple[int, str], "_Read"] = {}
# (id of the pyinfra state, host name) -> what the read writes to its stdin (the curl config
# of the verification's probes: credentials, never on a command line or in output).
_stdin: dict[tuple[int, str], object] = {}
_sending: list["_Read"] = []  # reads not yet on their way to their host

# How long a run waits for another run's lock on the host before the host fails.
LOCK_WAIT_ENV = "OLLAMA_GATE_LOCK_WAIT"
LOCK_WAIT_SECONDS = 300

# A section whose lines are never printed, even at -vvv: the credential file (hashes).
HIDDEN_SECTIONS = ("credentials",)


def _key() -> tuple[int, str]:
    return (id(getattr(host, "state", None)), host.name)


def lock_wait() -> int:
    """Seconds to wait for another deploy on the same host: $OLLAMA_GATE_LOCK_WAIT, else 300
    (a first deploy that loads images and pulls a model takes minutes)."""
    value = os.environ.get(LOCK_WAIT_ENV, "")
    return int(value) if value.isdigit() else LOCK_WAIT_SECONDS


def declare(stdin=None, **kwargs) -> None:
    """What this host's run will ask (the arguments of ``host_state_parts``), sent to the
    host now when it is connected (``_Read``); the first ``known`` gets the answer (or,
    when nothing could be sent, reads it then, from inside an operation). ``stdin``: an
    in-memory file written to the read's stdin (the probes' curl config)."""
    key = _key()
    _declared[key] = kwargs
    _stdin[key] = stdin
    _answers.pop(key, None)
    _sent.pop(key, None)
    if getattr(host, "connected", False) is True and not host.state.is_executing:
        _no_delay(host)
        _sent[key] = _Read(ctx_host.get(), kwargs, stdin)


def _no_delay(on) -> None:
    """Send every SSH packet to ``on`` at once (TCP_NODELAY on its connection's socket).

    paramiko leaves Nagle's algorithm on: a small packet sent while the previous one is
    not yet acknowledged waits for that ACK, which the host delays by up to 40 ms (Linux's
    delayed ACK). A run's commands are small packets: measured on a lab host, opening the
    session of a second command took 42-45 ms, 0.7 ms with TCP_NODELAY (bench/ssh_nodelay.py). Every packet paramiko
    sends is a whole SSH message, so nothing is sent in pieces. Other connectors (local,
    docker) have no such socket and are left alone.
    """
    sock = getattr(_transport(on), "sock", None)
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _covers(declared: dict, asked: dict) -> bool:
    # A list argument declared as a superset answers too (InstalledPackages, FileDigests:
    # the answer holds the asked names among others).
    return declared.keys() == asked.keys() and all(
        value == asked[name] or (isinstance(value, list) and set(asked[name]) <= set(value))
        for name, value in declared.items())


def known(cls, **kwargs):
    """``host.get_fact(cls, **kwargs)``, answered from this run's HostState read when
    deploy.py declared that fact with these arguments."""
    args = _declared.get(_key())
    if args is not None:
        for section, part, part_args in host_state_parts(**args):
            if part is cls and _covers(part_args, kwargs):
                answer = state()
                if section in answer:
                    return answer[section]
    return host.get_fact(cls, **kwargs)


def fresh(cls, **kwargs):
    """Read the fact again (an earlier operation of this run may have changed it)."""
    return host.get_fact(cls, **kwargs)


def state() -> dict:
    """The parsed HostState of this host (read on the first call): section -> answer,
    ``{}`` when nothing was declared; ``{"error": "..."}`` when the read failed."""
    key = _key()
    if key not in _declared:
        return {}
    if key not in _answers:
        sent = _sent.pop(key, None)
        _answers[key] = sent.answer() if sent is not None else _read(_declared[key], _stdin.get(key))
    return _answers[key]


class _Read:
    """The host-state read, sent to the host as soon as deploy.py has declared it.

    pyinfra prepares the hosts one after the other (greenlets that do not yield: all CPU),
    and only then runs the first operation; sent here, the host reads its state while this
    machine prepares the rest, and the first operation finds the answer waiting. The read
    runs in a greenlet of its own through pyinfra's ``run_shell_command``, as before. The
    host's deploy.py waits (``declare``) until the command is on its way (``sent``): while
    it waits, the other hosts are prepared up to their own declare, so all hosts get their
    read at once. The command, the lock it takes, and how its answer is printed (at -vvv:
    the command as it is sent, the answer when the first operation takes it) and parsed
    are unchanged.

    "On its way", over SSH (paramiko): the session's channel is open. paramiko then sends
    the exec request at once and waits for the host's reply, which comes only once the
    host has started the session (PAM, the login's scope: tens of ms of the host's CPU,
    ~0.2 s for 4 hosts on 2 shared cores); this machine goes on preparing meanwhile. With
    another connector (local, docker), once the host has accepted the command: pyinfra
    reads a command's stdin right after starting it, and this object is that stdin
    (``readlines``: the lines of ``stdin`` if any, then stdin is closed).
    """

    def __init__(self, on: object, args: dict, stdin=None) -> None:
        self.host, self.command = on, HostState().command(**args)
        self.stdin = stdin
        self.executor_kwargs = _executor_kwargs(on)
        self.sent = Event()
        transport = _transport(on)
        self.transport = transport if callable(getattr(transport, "open_session", None)) else None
        if self.transport is not None:
            self.transport.open_session = self._open_session
        self.greenlet = gevent.spawn(self._run)
        _sending.append(self)
        # Until every host whose read is on its way has it (all hosts reach their declare
        # before the first answer comes back): preparing goes on without yielding, and the
        # other hosts' commands would wait for it.
        while _sending:
            gevent.wait([_sending[0].sent, _sending[0].greenlet], count=1)
            _sending[:] = [read for read in _sending if not read.sent.is_set() and not read.greenlet.dead]

    def _open_session(self, *args, **kwargs):
        # In place of the transport's own, for this command's session only (paramiko's
        # SSHClient.exec_command opens it, then sends the exec request before it waits).
        self._restore()
        try:
            return self.transport.open_session(*args, **kwargs)
        finally:
            self.sent.set()

    def _restore(self) -> None:
        if self.transport is not None:
            self.transport.__dict__.pop("open_session", None)

    def readlines(self) -> list[str]:
        self.sent.set()
        return self.stdin.getvalue().splitlines() if self.stdin is not None else []

    def __repr__(self) -> str:  # never the text of stdin
        return "<host-state read stdin>"

    def _run(self):
        try:
            with ctx_host.use(self.host):
                return self.host.run_shell_command(self.command, print_output=False,
                                                   print_input=self.host.state.print_fact_input,
                                                   **{**self.executor_kwargs, "_stdin": self})
        except Exception as error:  # raised where the answer is taken, as a direct read would
            return error
        finally:
            self._restore()

    def answer(self) -> dict:
        result = self.greenlet.get()
        if isinstance(result, Exception):
            raise result
        return _answer(*result)


def _transport(on):
    """The paramiko transport of ``on``'s SSH connection (None with another connector)."""
    client = getattr(on.connector, "client", None)
    return client.get_transport() if client is not None and hasattr(client, "get_transport") else None


def _executor_kwargs(on) -> dict:
    global_kwargs, _ = pop_global_arguments(on.state, on, dict(on.current_op_global_arguments or {}))
    return {k: v for k, v in global_kwargs.items() if k in CONNECTOR_ARGUMENT_KEYS}


def _read(args: dict, stdin=None) -> dict:
    """Run HostState like pyinfra's get_fact does, except that its output is printed
    (at -vvv) without the lines of the hidden sections: a credential file holds hashes."""
    state_ = host.state
    executor_kwargs = _executor_kwargs(host)
    if not host.connected:
        host.connect(reason="to load fact: HostState", raise_exceptions=True)
    if stdin is not None:
        executor_kwargs["_stdin"] = stdin
    return _answer(*host.run_shell_command(
        HostState().command(**args), print_output=False, print_input=state_.print_fact_input, **executor_kwargs))


def _answer(status: bool, output) -> dict:
    """The parsed answer of a read (its output printed at -vvv, hidden sections left out)."""
    state_ = host.state
    lines = output.stdout_lines
    if state_.print_fact_output:
        hidden = False
        for line in lines:
            if line.startswith(SECTION_MARK + " "):
                hidden = line.split(" ", 1)[1].strip() in HIDDEN_SECTIONS
                echo(f"{host.print_prefix}{line}", err=True)
            elif not hidden:
                echo(f"{host.print_prefix}{line}", err=True)
        for line in output.stderr_lines:
            echo(f"{host.print_prefix}{line}", err=True)
    if not status:
        why = " ".join(output.stderr_lines[-3:]) or "no output"
        return {"error": f"could not read the host's state: {why}"}
    answer = HostState().process(lines)
    probes = ", the verification's requests" if "endpoint" in answer else ""
    host.log("Loaded fact HostState (one command: lock, Docker, packages, stack files, compose, certbot, "
             f"images, models, proxy{probes})", log_func=_fact_log(state_))
    return answer


def _fact_log(state_):
    from pyinfra import logger
    return logger.info if state_.print_fact_info else logger.debug
