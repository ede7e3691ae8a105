"""The local lab: Debian 13 lab hosts (systemd + sshd in containers) and stand-in images.

`python -m lab up|down|status|endpoints` (see __main__.py). Everything the lab
makes is named with PREFIX, so `down` removes exactly that and nothing else.
"""

import json
import os
from pathlib import Path

from ollama_gate import PROJECT_DIR

PREFIX = "ollama-gate-lab"
LAB_DIR = PROJECT_DIR / ".lab"
STATE_FILE = LAB_DIR / "lab.json"
IMAGES_DIR = LAB_DIR / "images"
SSH_DIR = LAB_DIR / "ssh"
SSH_KEY = SSH_DIR / "id_ed25519"
SECRETS_FILE = LAB_DIR / "secrets.yml"
HERE = Path(__file__).resolve().parent
IMAGE_SOURCES = HERE / "images"

# Images the lab builds, in build order. The first is made by debootstrap + docker import.
BASE_IMAGE = f"{PREFIX}/debian:trixie"
HOST_IMAGE = f"{PREFIX}/host:trixie"
OLLAMA_IMAGE = f"{PREFIX}/ollama:0.12.6-standin"
NGINX_IMAGE = f"{PREFIX}/nginx:1.28.0-standin"
OPENRESTY_IMAGE = f"{PREFIX}/openresty:1.27.1.2-standin"
# The stand-ins the deploy loads from archives (images_source = "archive").
STANDIN_IMAGES = (OLLAMA_IMAGE, NGINX_IMAGE, OPENRESTY_IMAGE)
# The label on everything the lab makes (images, containers, volumes).
LABEL = f"{PREFIX}=1"
# One lab's hosts: ollama-gate-lab-1, -2 ... by default. Another name (it must start with
# the prefix) gives a second lab beside it, e.g. a CI job next to a developer's lab; images
# are shared, .lab/ is per checkout.
# Without the variable, the lab this checkout's .lab/lab.json describes (so a shell that
# forgot the variable still means this checkout's lab, never the default one of another).
ENV_NAME = "OLLAMA_GATE_LAB_NAME"


def _recorded_name() -> str | None:
    try:
        return json.loads(STATE_FILE.read_text()).get("lab_name") or PREFIX
    except (OSError, ValueError):
        return None


RECORDED_NAME = _recorded_name()
LAB_NAME = os.environ.get(ENV_NAME) or RECORDED_NAME or PREFIX
if not LAB_NAME.startswith(PREFIX) or not LAB_NAME.replace("-", "").isalnum():
    raise SystemExit(f"OLLAMA_GATE_LAB_NAME={LAB_NAME!r} must start with {PREFIX!r} and hold "
                     "only letters, digits and '-'")
# The label on this lab's containers and volumes: `down` removes those, and only those.
LAB_LABEL_KEY = f"{PREFIX}.lab"
LAB_LABEL = f"{LAB_LABEL_KEY}={LAB_NAME}"
# The label naming the checkout whose .lab/ made a container or volume: `down` and `up`
# never remove what another checkout's lab.json still describes.
CHECKOUT_LABEL_KEY = f"{PREFIX}.checkout"
CHECKOUT = str(PROJECT_DIR)
CHECKOUT_LABEL = f"{CHECKOUT_LABEL_KEY}={CHECKOUT}"
# Every label a lab container or volume carries.
LABELS = (LABEL, LAB_LABEL, CHECKOUT_LABEL)

# The proxy port inside a lab host (group_data/all.py proxy_port default).
PROXY_PORT_IN_HOST = 8880
# First ports tried on 127.0.0.1; a busy port is skipped.
SSH_PORT_BASE = 22201
PROXY_PORT_BASE = 18881
