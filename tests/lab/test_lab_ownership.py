"""`lab down` and `lab up` in another checkout never remove this checkout's lab (#14 item 10).

The other checkout is a copy of lab/ and ollama_gate/ in a temporary directory (so its
PROJECT_DIR, and its .lab/, are elsewhere), run with the real `python -m lab`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from lab import CHECKOUT, LAB_NAME
from lab.hosts import lab_containers, lab_volumes, owners
from ollama_gate import PROJECT_DIR
from tests.e2e import faults


@pytest.fixture
def other_checkout(tmp_path):
    for package in ("lab", "ollama_gate", "templates", "files"):
        shutil.copytree(PROJECT_DIR / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "images"))
    return tmp_path


def run_lab(checkout, *args, env_name=LAB_NAME):
    env = {k: v for k, v in os.environ.items() if k != "OLLAMA_GATE_LAB_NAME"}
    if env_name is not None:
        env["OLLAMA_GATE_LAB_NAME"] = env_name
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=120)


def test_lab_down_in_another_checkout_refuses_naming_the_owner(lab, other_checkout, request):
    before = (lab_containers(), lab_volumes())
    assert before[0], "no lab containers to protect"
    assert set(owners()) == {CHECKOUT}, f"the lab's hosts should carry this checkout's label: {owners()}"
    started = time.monotonic()
    down = run_lab(other_checkout, "down")
    took = time.monotonic() - started
    assert down.returncode != 0, down.stderr
    assert f"the lab {LAB_NAME!r} is not this checkout's ({other_checkout})" in down.stderr, down.stderr
    assert f"belong to the checkout {CHECKOUT} (its .lab/lab.json describes it)" in down.stderr
    assert "Nothing was removed." in down.stderr
    assert (lab_containers(), lab_volumes()) == before
    assert (PROJECT_DIR / ".lab" / "lab.json").exists()

    # `up` there would have removed the hosts as "left by an earlier run": refused too.
    up = run_lab(other_checkout, "up")
    assert up.returncode != 0 and "Nothing was removed." in up.stderr, up.stderr
    assert (lab_containers(), lab_volumes()) == before
    faults.record(request, item="14.10", tried="`make lab-down` (and `lab-up`) in another checkout "
                  "naming this checkout's lab", holds="refused, naming the checkout that made it; its "
                  "containers, volumes and lab.json untouched", seconds=took, how="refused before any change")


def test_a_name_other_than_lab_json_is_refused_here(lab):
    run = run_lab(PROJECT_DIR, "down", env_name="ollama-gate-lab-not-this-one")
    assert run.returncode != 0
    assert (f"OLLAMA_GATE_LAB_NAME=ollama-gate-lab-not-this-one but this checkout's lab is {LAB_NAME}"
            in run.stderr), run.stderr
    assert lab_containers()


def test_without_the_variable_the_checkout_means_its_own_lab(lab, other_checkout):
    """A shell that forgot OLLAMA_GATE_LAB_NAME names the lab of this checkout's lab.json."""
    probe = subprocess.run([sys.executable, "-c", "import lab; print(lab.LAB_NAME)"], cwd=PROJECT_DIR,
                           env={k: v for k, v in os.environ.items() if k != "OLLAMA_GATE_LAB_NAME"},
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == LAB_NAME
