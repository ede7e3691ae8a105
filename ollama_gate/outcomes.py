"""The run's own summary: every host of the inventory with its outcome, at the very end.

pyinfra's results table leaves out hosts it could not connect to, and a SIGINT makes it exit
0. So the first ``config_for_host`` of a pyinfra run calls ``install``, which records what
happens to each host (a state callback, ``failed``, ``verified``) and, when the process
exits, prints one line per host of the inventory:

    deployed and verified | verified | deployed (verification off) | failed: why |
    unreachable | interrupted | not in this run (--limit) | dry run: nothing changed

and makes the exit status non-zero when a host of the run is not verified (130 after SIGINT),
even where pyinfra would exit 0.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from dataclasses import dataclass, field

INTERRUPTED_STATUS = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


@dataclass
class HostOutcome:
    reason: str | None = None  # why the host failed (the first reason said)
    verified: bool = False
    verify_enabled: bool = True
    url: str = ""
    ops_done: int = 0


@dataclass
class RunOutcomes:
    state: object = None
    hosts: dict[str, HostOutcome] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)
    interrupted: bool = False

    def of(self, name: str) -> HostOutcome:
        return self.hosts.setdefault(name, HostOutcome())


_run: RunOutcomes | None = None


def failed(host_name: str, reason: str) -> None:
    """Record why a host failed (the first reason stays: it is what stopped the host)."""
    if _run is not None and _run.of(host_name).reason is None:
        _run.of(host_name).reason = reason


def verified(host_name: str, url: str) -> None:
    if _run is not None:
        _run.of(host_name).verified = True
        _run.of(host_name).url = url


def expect(host_name: str, verify_enabled: bool) -> None:
    """The host's settings say whether it will be verified."""
    if _run is not None:
        _run.of(host_name).verify_enabled = verify_enabled


def install(state, inventory) -> None:
    """Start recording this pyinfra run (once; only under the pyinfra command line)."""
    global _run
    import pyinfra

    if _run is not None or not getattr(pyinfra, "is_cli", False):
        return
    from pyinfra.api.state import BaseStateCallback

    run = _run = RunOutcomes(state=state)
    # Connecting is over when the first deploy file is read: the hosts that did not
    # connect are failed and were never activated.
    run.unreachable = {h.name for h in state.failed_hosts if h not in state.activated_hosts}

    class Callback(BaseStateCallback):
        @staticmethod
        def operation_host_success(state, host, op_hash, retry_count=0):
            run.of(host.name).ops_done += 1

        @staticmethod
        def operation_host_error(state, host, op_hash, retry_count=0, max_retries=0):
            names = ", ".join(sorted(state.get_op_meta(op_hash).names))
            failed(host.name, f"operation {names!r} failed (its output is above)")

    state.add_callback_handler(Callback())

    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame):
        run.interrupted = True
        if callable(previous):
            previous(signum, frame)  # pyinfra's: "Exiting upon user request!", then exit
        raise SystemExit(INTERRUPTED_STATUS)

    signal.signal(signal.SIGINT, on_interrupt)
    atexit.register(_at_exit, inventory)


def lines(run: RunOutcomes, inventory) -> tuple[list[str], bool]:
    """The summary lines and whether every host of the run is as it should be."""
    from pyinfra.api.state import StateStage

    state = run.state
    executed = state.current_stage >= StateStage.Execute
    ok = True
    out = []
    for host in inventory:
        name = host.name
        outcome = run.hosts.get(name, HostOutcome())
        if not state.is_host_in_limit(host):
            text = "not in this run (--limit)"
        elif name in run.unreachable:
            text, ok = "unreachable: could not connect (the connection error is above)", False
        elif outcome.reason is not None:
            text, ok = f"failed: {outcome.reason}", False
        elif host in state.failed_hosts:
            text, ok = "failed (see the errors above)", False
        elif not executed:
            text = ("interrupted before anything ran" if run.interrupted
                    else "dry run: checked, nothing changed")
            ok = ok and not run.interrupted
        elif outcome.verified:
            text = ("deployed and verified" if outcome.ops_done > 1 else "verified") + \
                   (f" ({outcome.url})" if outcome.url else "")
        elif run.interrupted:
            text, ok = "interrupted before it was verified", False
        elif not outcome.verify_enabled:
            text = "deployed (not verified: verify_enabled = False)"
        else:
            text, ok = "not verified: the run ended before its verification", False
        out.append(f"    {name}: {text}")
    return out, ok


def _at_exit(inventory) -> None:
    run = _run
    if run is None or run.state is None:
        return
    try:
        out, ok = lines(run, inventory)
    except Exception as e:  # a summary must never hide the run's own result
        print(f"--> ollama-gate: no summary ({e})", file=sys.stderr)
        return
    print("--> ollama-gate: every host of the inventory:", file=sys.stderr)
    for line in out:
        print(line, file=sys.stderr)
    status = None
    if run.interrupted:
        print(f"--> ollama-gate: the run was INTERRUPTED (SIGINT); exit status {INTERRUPTED_STATUS}",
              file=sys.stderr)
        status = INTERRUPTED_STATUS
    elif not ok and not run.state.failed_hosts:
        # pyinfra exits 0 unless it counted a failed host; a host not verified is a failure.
        status = 1
    sys.stderr.flush()
    sys.stdout.flush()
    if status is not None:
        os._exit(status)
