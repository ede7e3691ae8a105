"""HostState's one read answers as the facts read alone do (#15), on a real lab host.

Within HostState, the stack's containers (ComposeStack), the proxy's published ports (PortHolders), Ollama's process (OllamaModels),
the proxy's state and bind mounts (ProxyLoaded) and the stack's images (DockerImageRefs) come
from ONE `docker inspect` of the stack's containers and images (facts/inspected.py) instead
of a docker call each (`docker ps`, `docker port`, two inspects, `docker image ls`); the
digest of the proxy's config on disk is computed from the files section. A run decides
on those answers (recreate the proxy, pull models, reload), so they must be the same as what
each fact's own command reads: compared here with the stack as deployed, with the proxy
stopped and Ollama's container gone (then a rerun repairs both), and with a proxy mount
replaced behind the container's back (the stale mount ProxyLoaded reports). And, over real SSH,
the read is sent while pyinfra prepares the run (operations/snapshot.py).
"""

from __future__ import annotations

import shlex

from ollama_gate.facts.host import HostState, ProxyLoaded
from ollama_gate.facts.images import DockerImageRefs
from ollama_gate.facts.models import OllamaModels
from ollama_gate.facts.stack import ComposeStack, PortHolders

from .conftest import deploy, ssh
from .test_deploy import host_of_mode

STACK = "/opt/ollama-gate"
PROXY, OLLAMA = "ollama-gate-proxy", "ollama-gate-ollama"
ARGS = dict(stack_dir=STACK, project="ollama-gate", port=8880, proxy_container=PROXY, ollama_container=OLLAMA)
ALONE = {"compose": (ComposeStack, {"stack_dir": STACK, "project": "ollama-gate"}),
         "port": (PortHolders, {"project": "ollama-gate", "port": 8880}),
         "models": (OllamaModels, {"container": OLLAMA}),
         "proxy": (ProxyLoaded, {"stack_dir": STACK, "container": PROXY})}


def _run(lab, index: int, command: str) -> list[str]:
    done = ssh(lab, index, "sh -c " + shlex.quote(command))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def read_both(lab, index: int) -> tuple[dict, dict]:
    """(the three sections as HostState answers them, the same facts read alone)."""
    state = HostState()
    together = state.process(_run(lab, index, state.command(**ARGS)))
    alone = {section: cls().process(lines) if (lines := _run(lab, index, cls().command(**args)))
             else cls().default()
             for section, (cls, args) in ALONE.items()}
    return {section: together[section] for section in ALONE}, alone


def test_the_one_read_answers_as_each_fact_alone_in_every_state_a_rerun_decides_on(deployed):
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")

    together, alone = read_both(lab, index)
    assert together == alone
    assert together["proxy"].state == "running" and together["port"].published == [8880]
    assert together["models"] and not isinstance(together["models"], str)
    assert {svc: state for svc, (state, _) in together["compose"].containers.items()} == {
        "ollama": "running", "proxy": "running"}
    # The images: asked about every tag the engine holds and one it does not, the read
    # names exactly the ones `docker image ls` lists.
    every = DockerImageRefs().process(_run(lab, index, DockerImageRefs().command()))
    assert len(every) >= 2
    state = HostState()
    read = state.process(_run(lab, index, state.command(**ARGS, images=[*every, "ollama-gate-lab/absent:1"])))
    assert read["images"] == every

    # A proxy mount replaced behind the container's back (a removed and re-made auth/).
    _run(lab, index, f"cp -a {STACK}/auth {STACK}/auth.new && mv {STACK}/auth {STACK}/auth.old && "
                     f"mv {STACK}/auth.new {STACK}/auth")
    try:
        together, alone = read_both(lab, index)
        assert together == alone
        assert together["proxy"].stale_mounts, together["proxy"]
    finally:
        _run(lab, index, f"rm -rf {STACK}/auth.old")

    # The proxy stopped and Ollama's container gone.
    _run(lab, index, f"docker stop -t 1 {PROXY} >/dev/null && docker rm -f {OLLAMA} >/dev/null")
    together, alone = read_both(lab, index)
    assert together == alone
    assert together["proxy"].state == "exited" and together["port"].published == []
    assert together["models"] is None
    assert {svc: state for svc, (state, _) in together["compose"].containers.items()} == {"proxy": "exited"}

    rerun = deploy("--limit", host["name"])
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert "endpoint verified" in rerun.output
    together, alone = read_both(lab, index)
    assert together == alone and together["proxy"].state == "running" and not together["proxy"].stale_mounts


def test_the_read_is_sent_while_the_run_is_prepared_and_taken_by_the_first_operation(deployed):
    """Over real SSH (pyinfra's CLI, -vvv): the read goes to the host before pyinfra begins
    the operation run (while it prepares), its answer is printed when the first operation
    takes it, and it is the run's only command: the verification's probes rode along."""
    lab = deployed["lab"]
    _, host = host_of_mode(lab, "bearer")
    run = deploy("-vvv", "--limit", host["name"])
    assert run.returncode == 0, run.output[-3000:]
    lines = run.output.splitlines()
    begun = next(i for i, line in enumerate(lines) if "Beginning operation run" in line)
    sent = [i for i, line in enumerate(lines) if ">>>" in line and "__OLLAMA_GATE_SECTION__" in line]
    answered = next(i for i, line in enumerate(lines) if line.endswith("__OLLAMA_GATE_SECTION__ docker"))
    assert len(sent) == 1 and sent[0] < begun < answered, (sent, begun, answered)
    assert sum(">>>" in line for line in lines) == 1
    assert run.changed() == {}, run.changed()
    assert "endpoint verified" in run.output and "asked with the host's state read" in run.output


def test_a_run_that_changes_something_verifies_again_at_the_end(deployed):
    """The read's probes see the host as it was: with its model removed by hand, the
    generation probe fails then; the run pulls the model back (a change), so the read's
    answers prove nothing and the endpoint is asked again, in a command of its own, once
    the model is back, and passes. The next run changes nothing: one command again."""
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    _run(lab, index, f"docker exec {OLLAMA} ollama rm gemma3:1b")
    run = deploy("-vvv", "--limit", host["name"])
    assert run.returncode == 0, run.output[-3000:]
    assert "Ensure the models are pulled (only missing ones)." in run.changed(), run.changed()
    sent = [line for line in run.output.splitlines() if ">>>" in line]
    probes = [line for line in sent if "curl -sS --parallel" in line and "__OLLAMA_GATE_SECTION__" not in line]
    assert len(probes) == 1, sent
    assert "endpoint verified" in run.output and "asked with the host's state read" not in run.output
    again = deploy("-vvv", "--limit", host["name"])
    assert again.returncode == 0 and again.changed() == {}, again.changed()
    assert sum(">>>" in line for line in again.output.splitlines()) == 1
