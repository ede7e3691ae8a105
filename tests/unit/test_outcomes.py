"""The run's summary: one line per inventory host, and whether the run may exit 0."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyinfra.api.state import StateStage

from ollama_gate.outcomes import HostOutcome, RunOutcomes, lines


@dataclass(frozen=True)
class Host:
    name: str


@dataclass
class State:
    current_stage: StateStage = StateStage.Disconnect
    limit: set = field(default_factory=set)
    failed_hosts: set = field(default_factory=set)

    def is_host_in_limit(self, host) -> bool:
        return not self.limit or host.name in self.limit


HOSTS = [Host("gpu1"), Host("gpu2"), Host("gpu3"), Host("gpu4")]


def test_every_host_has_a_line_and_one_not_verified_fails_the_run():
    state = State(limit={"gpu1", "gpu2", "gpu3"}, failed_hosts={Host("gpu2"), Host("gpu3")})
    run = RunOutcomes(state=state, unreachable={"gpu3"}, hosts={
        "gpu1": HostOutcome(verified=True, url="http://gpu1:8880", ops_done=25),
        "gpu2": HostOutcome(reason="proxy_port: port 8880 is in use"),
    })
    out, ok = lines(run, HOSTS)
    assert out == ["    gpu1: deployed and verified (http://gpu1:8880)",
                   "    gpu2: failed: proxy_port: port 8880 is in use",
                   "    gpu3: unreachable: could not connect (the connection error is above)",
                   "    gpu4: not in this run (--limit)"]
    assert ok is False


def test_all_verified_is_ok_and_verify_py_says_verified():
    run = RunOutcomes(state=State(), hosts={h.name: HostOutcome(verified=True, ops_done=1) for h in HOSTS})
    out, ok = lines(run, HOSTS)
    assert ok and all(line.endswith(": verified") for line in out)


def test_interrupted_hosts_are_not_ok():
    run = RunOutcomes(state=State(), interrupted=True, hosts={"gpu1": HostOutcome(verified=True, ops_done=9)})
    out, ok = lines(run, HOSTS[:2])
    assert out == ["    gpu1: deployed and verified", "    gpu2: interrupted before it was verified"]
    assert ok is False


def test_a_dry_run_is_ok_and_verification_off_says_so():
    dry = RunOutcomes(state=State(current_stage=StateStage.Prepare))
    assert lines(dry, HOSTS[:1]) == (["    gpu1: dry run: checked, nothing changed"], True)
    off = RunOutcomes(state=State(), hosts={"gpu1": HostOutcome(verify_enabled=False, ops_done=20)})
    assert lines(off, HOSTS[:1]) == (["    gpu1: deployed (not verified: verify_enabled = False)"], True)
    missing = RunOutcomes(state=State(), hosts={"gpu1": HostOutcome(ops_done=20)})
    assert lines(missing, HOSTS[:1]) == (["    gpu1: not verified: the run ended before its verification"], False)
