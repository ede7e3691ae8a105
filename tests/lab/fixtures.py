"""Fixtures: the `lab` session fixture, for the lab's own tests and the end-to-end tests.

Use it from any conftest.py with `from tests.lab.fixtures import lab  # noqa: F401`.
A lab that is already up (make lab-up, make demo) is reused as it is and left up. A lab
this session brought up is taken down at its end, and that `down` is checked to leave
nothing of the lab's behind (images and archives stay, for speed).

OLLAMA_GATE_LAB=0 skips every lab test; =1 makes a lab that cannot come up a failure.
Unset: a machine with no Docker engine and no way to start one (not root) skips them.
"""

from __future__ import annotations

import os

import pytest

ENV_VAR = "OLLAMA_GATE_LAB"
# The lab this process brought up, shared by every conftest that imports the fixture.
_made_here: dict = {}


@pytest.fixture(scope="session")
def lab():
    """The parsed .lab/lab.json of a running lab (hosts: OLLAMA_GATE_LAB_HOSTS, default 2)."""
    if os.environ.get(ENV_VAR) == "0":
        pytest.skip(f"{ENV_VAR}=0: lab tests skipped")
    from lab import engine
    from lab.__main__ import status, up
    from lab.state import read_state

    try:
        engine.ensure_engine()
    except SystemExit as e:
        if os.environ.get(ENV_VAR) == "1":
            pytest.fail(f"no Docker engine for the lab: {e}", pytrace=False)
        pytest.skip(f"no Docker engine for the lab ({e}); {ENV_VAR}=1 makes this a failure")
    existing = read_state()
    try:
        if existing is not None and status() == 0:
            yield existing
            return
        made = up(int(os.environ.get("OLLAMA_GATE_LAB_HOSTS", "2")))
    except SystemExit as e:  # the lab's errors are messages, not a reason to stop pytest
        pytest.fail(f"the lab did not come up: {e}", pytrace=False)
    if existing is not None:
        yield made  # someone's lab, started again: theirs to take down
        return
    _made_here["state"] = made
    yield made
    if _made_here.pop("state", None) is not None:
        take_down_and_check()


def take_down_and_check() -> None:
    """`down`, then fail unless nothing of the lab is left but its images and archives."""
    from lab import SECRETS_FILE, SSH_DIR, STATE_FILE
    from lab.__main__ import down
    from lab.hosts import lab_containers, lab_volumes

    down()
    left = lab_containers() + lab_volumes()
    left += [str(p) for p in (STATE_FILE, SECRETS_FILE, SSH_DIR) if p.exists()]
    assert not left, f"`python -m lab down` left these behind: {left}"
