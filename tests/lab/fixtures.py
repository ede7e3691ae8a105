"""Fixtures: the `lab` session fixture, for the lab's own tests and the end-to-end tests.

Use it from any conftest.py with `from tests.lab.fixtures import lab, lab_created  # noqa`.
The lab is slow to make the first time (images), so these tests run only when asked:
OLLAMA_GATE_LAB=1 (CI sets it). A lab that is already up is reused as it is, and left up.
"""

from __future__ import annotations

import os

import pytest

ENV_VAR = "OLLAMA_GATE_LAB"


def _require_lab() -> None:
    if os.environ.get(ENV_VAR) != "1":
        pytest.skip(f"lab tests need a Docker engine and a few minutes: set {ENV_VAR}=1 "
                    "(make lab-test)")


@pytest.fixture(scope="session")
def lab_created() -> dict:
    """{"created": True} when this test session brought the lab up itself (filled by `lab`)."""
    return {"created": False}


@pytest.fixture(scope="session")
def lab(lab_created) -> dict:
    """The parsed .lab/lab.json of a running lab, brought up (hosts=2) unless it is up."""
    _require_lab()
    from .__main__ import status, up
    from .state import read_state

    existing = read_state()
    try:
        if existing is not None and status() == 0:
            return existing
        lab_created["created"] = existing is None
        return up(int(os.environ.get("OLLAMA_GATE_LAB_HOSTS", "2")))
    except SystemExit as e:  # the lab's errors are messages, not a reason to stop pytest
        pytest.fail(f"the lab did not come up: {e}", pytrace=False)
