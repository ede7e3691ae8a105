"""Fixtures that run the rendered proxy config in a real nginx on 127.0.0.1."""

from __future__ import annotations

import os

import pytest

from tests.integration import harness


@pytest.fixture(scope="session", autouse=True)
def real_nginx():
    """Skip the real-nginx tests where nginx or its Lua module is missing, except in CI."""
    reason = harness.missing_nginx()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def upstream():
    server = harness.RecordingUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def start_gate(upstream):
    """start_gate(settings, credentials=..., ...) -> a running Gate, stopped after the module."""
    gates = []

    def start(settings, **kwargs):
        gate = harness.Gate(settings, upstream.port, **kwargs)
        gates.append(gate)
        gate.start()
        return gate

    yield start
    for gate in gates:
        gate.cleanup()
