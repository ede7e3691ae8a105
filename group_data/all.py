"""Every ollama-gate setting with its default.

pyinfra loads this file for every host; group data (group_data/<group>.py) and host
data in the inventory override it, the usual pyinfra way (host beats group beats all).
The README has a table of every setting. ollama_gate.settings checks all of them
before any host is touched: a bad value stops the run with a message naming it.
"""

# --- Authentication -------------------------------------------------------------
# "basic": HTTP Basic with nginx auth_basic and an .htpasswd file (official nginx image).
# "bearer": "Authorization: Bearer <key>" checked in Lua against SHA-256 digests
#           of the keys (official openresty/openresty image).
auth_mode = "basic"
# Names from the secrets file that this host accepts ("users" for basic, "keys" for
# bearer). Empty: every entry of the mode's section.
auth_credentials: list = []
# Realm sent in WWW-Authenticate.
auth_realm = "ollama-gate"
# Hash scheme of .htpasswd lines: "ssha" ({SSHA}, salted SHA-1), "apr1", "sha512_crypt"
# or "bcrypt". nginx hashes on every request; see the README for the measurement behind
# the default.
auth_htpasswd_scheme = "ssha"
# Shortest password accepted. Passwords are hashed with a fast scheme by default, so they
# must carry their own strength (new-user makes 192-bit ones).
auth_password_min_length = 20
# Wrong-credential requests per minute from one address before it gets 429.
auth_fail_limit = 10

# --- Proxy ----------------------------------------------------------------------
proxy_bind = "0.0.0.0"
proxy_port = 8880
# Largest request body (nginx size syntax). Images sent to multimodal models are base64.
proxy_max_body = "32m"
# Seconds nginx waits for Ollama between two reads of a (streamed) response.
proxy_read_timeout = 600
# HTTPS: "off", "self-signed" (the deploy makes a certificate on the host, fetched to
# tls/<host>.crt for clients to trust), "provided" (proxy_tls_cert and proxy_tls_key are
# local paths uploaded to the host) or "acme" (certbot on the host gets and renews a
# certificate from an ACME CA, HTTP-01 answered by the proxy on proxy_http_port).
proxy_tls = "off"
proxy_tls_cert = ""
proxy_tls_key = ""
# Send Strict-Transport-Security when TLS is on.
proxy_hsts = True
# The URL clients use, for the summary and report ("" = http(s)://<host>:<proxy_port>);
# set it when a load balancer, NAT or port mapping stands in between.
proxy_public_url = ""
# Limits of the proxy container (Docker memory size; processes and threads). nginx
# needs a few MB per worker; the pids limit stops a fork bomb, not nginx.
proxy_memory_limit = "256m"
proxy_pids_limit = 512
# acme only: the host port of the proxy's plain-HTTP listener, which answers the CA's
# HTTP-01 challenges and redirects everything else to HTTPS. The CA always asks port 80,
# so anything but 80 needs a port mapping in front.
proxy_http_port = 80
# acme only: the CA's directory URL (default Let's Encrypt production; its staging
# directory is https://acme-staging-v02.api.letsencrypt.org/directory).
proxy_acme_directory = "https://acme-v02.api.letsencrypt.org/directory"
# acme only: contact e-mail of the ACME account ("" = register without one).
proxy_acme_email = ""
# acme only: the names on the certificate ([] = the host of proxy_public_url).
proxy_acme_names: list = []
# acme only: local path of a PEM CA certificate the host must trust to reach the ACME
# directory over HTTPS (a private CA, e.g. Pebble in the lab); "" = the host's own trust.
proxy_acme_ca_cert = ""

# --- Images ---------------------------------------------------------------------
# Pinned references (a tag other than latest, or a digest).
images_ollama = "ollama/ollama:0.12.6"
images_nginx = "nginx:1.28.0"
images_openresty = "openresty/openresty:1.27.1.2-0-bookworm"
# "registry": docker compose pull. "archive": upload <images_archive_dir>/<file>.tar
# and docker load it, for hosts without registry access.
images_source = "registry"
images_archive_dir = "images"

# --- Docker engine --------------------------------------------------------------
# "official": Docker's apt repository. "distro": the distribution's packages.
# "none": Docker is managed elsewhere; only checked.
docker_install_method = "official"
# Users added to the docker group (each must exist on the host: checked first).
docker_users: list = []
# Written to /etc/docker/daemon.json once `dockerd --validate` accepts it; a change restarts
# the engine; {} removes the file (unless docker_install_method = "none").
docker_daemon_options: dict = {}

# --- Compose stack --------------------------------------------------------------
stack_dir = "/opt/ollama-gate"
stack_project = "ollama-gate"
# Reserve all NVIDIA GPUs for Ollama (needs the NVIDIA container toolkit on the host).
ollama_gpu = False
# Limits of the Ollama container. "auto": 90% of the host's memory, so a model too big for
# the host is killed inside its container instead of taking the host's sshd with it.
# The pids limit counts threads too: a runner has about one per core.
ollama_memory_limit = "auto"
ollama_pids_limit = 4096
# Environment of the Ollama container, e.g. {"OLLAMA_NUM_PARALLEL": "1"} (requests a
# model answers at once) or {"OLLAMA_KEEP_ALIVE": "1h"}.
ollama_environment: dict = {}

# --- Models ---------------------------------------------------------------------
models: list = ["gemma3:1b"]
# Remove models that are not in the list.
models_prune = False
# "registry": ollama pull on the host. "local": copy them from models_local_path (a local
# Ollama models directory, manifests/ + blobs/, or a tar of one), for hosts without
# internet; Ollama then runs on an internal network with no route out.
models_source = "registry"
models_local_path = ""

# --- Verification ---------------------------------------------------------------
verify_enabled = True
# Also run one short /api/generate through the proxy on the first model.
verify_generate = True
# Where to write the JSON report of every check ("" = no report; OLLAMA_GATE_REPORT
# in the environment wins).
verify_report = ""

# --- Uninstall (uninstall.py only) -----------------------------------------------
# Also remove the models volume (pulled models are gone for good).
uninstall_models = False
# Also remove the stack's images (they may be pulled or loaded again later).
uninstall_images = False

# --- Gateway: one endpoint in front of several backends ----------------------------
# A host in the inventory group "gateway" runs only the proxy and balances its clients'
# requests over its backends (ordinary ollama-gate hosts), authenticating to them with a
# service credential the deploy makes. Set on the gateway:
# Inventory groups or host names of its backends.
gateway_backends: list = ["backend"]
# A backend failing this many times within gateway_fail_timeout seconds gets no requests
# for gateway_fail_timeout seconds (then one request tries it again).
gateway_max_fails = 1
gateway_fail_timeout = 10
# Seconds to wait for a backend's connection (and TLS handshake).
gateway_connect_timeout = 5
# The name of the service credential in the secrets file (section of the backends' auth
# mode); the deploy makes it when it is missing.
gateway_service_credential = "ollama-gate-gateway"
# Set on a backend:
# Its share of the gateway's requests relative to the other backends.
gateway_weight = 1
# How the gateway reaches it ("" = its ssh_hostname, else its inventory name).
gateway_backend_address = ""
# With TLS: a local PEM file of the CA that issued its certificate, for the gateway to trust
# ("" = self-signed: its own certificate as the deploy fetched it; acme: proxy_acme_ca_cert,
# else the public CAs; provided: its certificate file and the public CAs).
gateway_backend_ca = ""
# Also accept its own clients (auth_credentials) besides the gateway's service credential.
gateway_accept_clients = False
