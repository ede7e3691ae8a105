"""The local lab: Debian 13 lab hosts (systemd + sshd in containers) and stand-in images.

`python -m tests.lab up|down|status|endpoints` (see __main__.py). Everything the lab
makes is named with PREFIX, so `down` removes exactly that and nothing else.
"""

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
# Every label the lab puts on what it makes, so `down` can find it by label as well.
LABEL = f"{PREFIX}=1"

# The proxy port inside a lab host (group_data/all.py proxy_port default).
PROXY_PORT_IN_HOST = 8880
# First ports tried on 127.0.0.1; a busy port is skipped.
SSH_PORT_BASE = 22201
PROXY_PORT_BASE = 18881
