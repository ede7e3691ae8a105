"""Test deploy (not for users): an image archive vanishes after the settings were checked
(a share unmounted mid-run), then the real deploy.py runs.

OLLAMA_GATE_TEST_VANISH names the archive file to remove once every host's settings have
passed the check (which found it). Only the hosts whose image it holds fail, at
images.present, through the one failure path; the others deploy and verify.
"""

import os

from pyinfra import host, inventory, local

from ollama_gate.config import config_for_host

config_for_host(host, inventory)  # checks every host now, while the archive is there
vanish = os.environ["OLLAMA_GATE_TEST_VANISH"]
if os.path.lexists(vanish):
    os.remove(vanish)
local.include("deploy.py")
