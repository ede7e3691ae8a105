"""This run's one read of each host (the HostState fact), shared by the operations.

pyinfra asks a fact again each time an operation asks for it; a deploy's operations ask
the same few questions (the stack directory's files, Docker's state) over and over, a
round trip each. deploy.py declares once what the run will ask (``declare``); the first
operation that asks any of it reads all of it in ONE command (which also takes the host's
deploy lock), and the later operations get the answers from there (``known``).

The answers are those of the start of the run, under the lock. That is right for every
question an operation asks about something no earlier operation of the run changes (each
stack file is written by one operation only). Where an earlier operation may have changed
the answer (Docker installed or started, a package installed as a dependency), the
operation reads the fact again with ``fresh`` before it acts, and says why in a comment;
a no-change rerun never needs to.
"""

from __future__ import annotations

import os

from click import echo
from pyinfra import host
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments

from ..facts.host import SECTION_MARK, HostState, host_state_parts

# (id of the pyinfra state, host name) -> HostState arguments / its parsed answer.
_declared: dict[tuple[int, str], dict] = {}
_answers: dict[tuple[int, str], dict] = {}

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


def declare(**kwargs) -> None:
    """What this host's run will ask (the arguments of ``host_state_parts``). Nothing is
    read here: the first ``known`` reads it all, from inside an operation."""
    _declared[_key()] = kwargs
    _answers.pop(_key(), None)


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
        _answers[key] = _read(_declared[key])
    return _answers[key]


def _read(args: dict) -> dict:
    """Run HostState like pyinfra's get_fact does, except that its output is printed
    (at -vvv) without the lines of the hidden sections: a credential file holds hashes."""
    fact = HostState()
    state_ = host.state
    global_kwargs, _ = pop_global_arguments(state_, host, dict(host.current_op_global_arguments or {}))
    executor_kwargs = {k: v for k, v in global_kwargs.items() if k in CONNECTOR_ARGUMENT_KEYS}
    if not host.connected:
        host.connect(reason="to load fact: HostState", raise_exceptions=True)
    status, output = host.run_shell_command(
        fact.command(**args), print_output=False, print_input=state_.print_fact_input, **executor_kwargs)
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
    host.log("Loaded fact HostState (one command: lock, Docker, packages, stack files, compose, certbot, "
             "images, models, proxy)", log_func=_fact_log(state_))
    return fact.process(lines)


def _fact_log(state_):
    from pyinfra import logger
    return logger.info if state_.print_fact_info else logger.debug
