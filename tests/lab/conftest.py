"""The lab's own tests use the shared `lab` fixture."""

from tests.lab.fixtures import lab, lab_created  # noqa: F401
