"""ollama-gate: make each host an authenticated Ollama endpoint.

    pyinfra inventory/prod.py deploy.py          # deploy (add --dry to see what would change)

This file only decides what runs and in which order; each concern is a module of
ollama_gate/ that can be read alone. Every host's settings and secrets are checked
before the first operation runs on any host.
"""

from functools import cache
from pathlib import Path

from pyinfra import host, inventory

from ollama_gate import auth, compose, proxy
from ollama_gate import credentials as credentials_module
from ollama_gate import tls as tls_module
from ollama_gate.config import config_for_host
from ollama_gate.facts.credentials import CredentialLineDigests
from ollama_gate.facts.host import MemoryTotal
from ollama_gate.gateway import backend_trust_bundle, service_auth_conf
from ollama_gate.layout import layout_of
from ollama_gate.operations import acme, credentials, docker, endpoint, images, models, snapshot, stack, system, tls
from ollama_gate.operations import gateway as gateway_ops
from ollama_gate.operations.snapshot import known
from ollama_gate.operations.util import known_to_inspect
from ollama_gate.settings import resolve_local_path

# pyinfra inspects the call stack of every operation call; this makes that cheap.
known_to_inspect(__file__)
cfg = config_for_host(host, inventory)
s = cfg.settings
# A gateway (inventory group "gateway") runs only the proxy, in front of its backends.
gateway = cfg.gateway
mode = auth.mode_of(s)
gid = mode.worker_gid
lay = layout_of(s)  # every path on the host and container name
d = lay.stack_dir
cred_path = lay.auth_file(mode.credential_file)
# openssl makes the self-signed certificate and reads every certificate's expiry and
# fingerprint; certbot gets ACME certificates (and renews them with its timer).
packages = ["curl", "ca-certificates", *(["openssl"] if s.proxy_tls != "off" else []),
            *(["certbot"] if s.proxy_tls == "acme" else [])]

# The images the stack runs (a gateway runs only its proxy).
image_refs = [s.proxy_image] if gateway is not None else list(s.images)

# Everything the operations below ask the host, read in ONE command (which also takes the
# host's deploy lock), sent to the host now: it reads while this machine prepares the rest
# of the run, and the operations take their answers from it.
snapshot.declare(
    stack_dir=d, project=s.stack_project, port=s.proxy_port,
    proxy_container=lay.proxy_container, ollama_container=lay.ollama_container,
    packages=[*docker.ENGINE_PACKAGES, *packages], paths=list(docker.REPOSITORY_PATHS),
    credential_file=cred_path if mode.reuses_current_file else "", lock_wait=snapshot.lock_wait(),
    cert_name=tls_module.cert_name(s),
    credential_lines=cred_path if cfg.role == "backend" else "",
    # The certificate a self-signed or ACME stack starts from, and the name it is made for.
    tls_cert=lay.tls_cert if s.proxy_tls in ("self-signed", "acme") else "", fqdn=s.proxy_tls == "self-signed",
    images=image_refs,
    # The verification's probes ride along (their curl config on the read's stdin): when
    # the run then changes nothing on the host, their answers are its verification.
    **(endpoint.probes_with_the_read(cfg) if s.verify_enabled else {}),
)

# --- Preflight: stop before changing anything ------------------------------------------
stack.port_available(
    name="Check that the proxy port is free or already ours.",
    stack_dir=d, project=s.stack_project, port=s.proxy_port, bind=s.proxy_bind,
)
if s.proxy_tls == "acme":
    stack.port_available(
        name=f"Check that port {s.proxy_http_port} (ACME HTTP-01) is free or already ours.",
        stack_dir=d, project=s.stack_project, port=s.proxy_http_port, bind=s.proxy_bind,
        setting="proxy_http_port",
    )

system.users_exist(name="Check that the users of docker_users exist.", users=list(s.docker_users),
                   setting="docker_users")

# --- Docker engine ---------------------------------------------------------------------
docker.engine(
    name="Ensure Docker Engine and Compose v2 are installed (docker_install_method) and enabled.",
    method=s.docker_install_method,
)
# After the install (dockerd checks the options), before anything needs the engine running.
docker.daemon(
    name="Ensure Docker runs with the daemon options (checked by dockerd first; restarted only if they changed).",
    options=s.docker_daemon_options, manage_file=s.docker_install_method != "none",
)
system.apt_packages(
    name="Ensure curl and CA certificates are installed (the verification uses curl on the host).",
    packages=packages,
)
docker.group_members(
    name="Ensure the configured users are in the docker group.",
    users=list(s.docker_users),
)

# --- Stack directory: credentials, proxy config, TLS, compose file ---------------------
stack.directory(name="Ensure the stack directory exists.", path=d, stack_dir=d, mode=0o755)
# The proxy's workers (a uid/gid of the image, not of the host) read config and credentials.
stack.directory(name="Ensure the proxy config directory exists.", path=lay.proxy_dir, stack_dir=d,
                mode=0o750, gid=gid)
stack.directory(name="Ensure the credentials directory exists.", path=lay.auth_dir, stack_dir=d,
                mode=0o750, gid=gid)

# A pure function of the secrets (.htpasswd salts are HMACs under the installation key):
# nothing is read back from the host, so no hash is ever in pyinfra's output.
credential_text = cache(lambda: mode.render_credentials(cfg.credentials, s, key=cfg.installation_key))
# A backend whose gateway's service credential was rotated keeps accepting the value it
# accepts now until the gateway has switched (recognised by line digests from the one
# host read; None when there is nothing to keep). See README "Rotating the gateway's credential".
kept_previous = cache(lambda: credentials_module.with_previous(
    credential_text(), mode.previous_name(cfg.service_credential), known(CredentialLineDigests, path=cred_path),
    credentials_module.service_candidates(mode, cfg.service_credential, cfg.refused or (), cfg.credentials, s,
                                          cfg.installation_key),
) if cfg.role == "backend" else None)
credentials.changes_reported(
    name="Say which credential names change (names only, never values).",
    path=cred_path, content=credential_text, stack_dir=d,
)
stack.file(
    name="Write the credential file of the auth mode (names only in output, never values).",
    path=cred_path, stack_dir=d, mode=0o640, gid=gid, sensitive=True,
    content=lambda: kept_previous() or credential_text(),
)
stale = [lay.auth_file(other.credential_file) for other in auth.MODES.values() if other is not mode]
service_auth = lay.auth_file(proxy.SERVICE_AUTH_FILENAME)
service_ops = []
if gateway is not None:
    # The gateway's credential for its backends, as an nginx include: a secret, written
    # like a credential file. nginx reads it at (re)load, so a change reloads the proxy.
    service_ops.append(stack.file(
        name="Write the gateway's credential for its backends (never shown).",
        path=service_auth, content=service_auth_conf(gateway.service), stack_dir=d, mode=0o640, gid=gid,
        sensitive=True,
    ))
else:
    stale.append(service_auth)

tls_ops = []
if s.proxy_tls == "off":
    stale.append(lay.tls_dir)
else:
    stack.directory(name="Ensure the TLS directory exists.", path=lay.tls_dir, stack_dir=d, mode=0o750, gid=0)
    tls_ops = tls.certificate(s, lay, inventory_name=host.name)
if s.proxy_tls == "acme":
    # certbot writes HTTP-01 answers to the webroot (the proxy serves it read-only on port
    # 80); its deploy hook copies a new certificate to tls/ and reloads the proxy.
    stack.directory(name="Ensure the ACME directory exists.", path=lay.acme_dir, stack_dir=d, mode=0o755)
    stack.directory(name="Ensure the ACME webroot exists.", path=lay.acme_webroot, stack_dir=d, mode=0o755)
    stack.file(name="Write certbot's deploy hook (install the new certificate, reload the proxy).",
               path=lay.acme_hook, stack_dir=d, mode=0o755, content=tls_module.acme_hook(s))
else:
    stale.append(lay.acme_dir)

proxy_files = proxy.render_proxy_config(s, pool=gateway.pool if gateway is not None else None)
proxy_contents = dict(proxy_files)
if gateway is not None and gateway.pool.tls:
    # What the gateway trusts its TLS backends by, read when this operation runs: pyinfra
    # runs each operation on every host before the next, so a self-signed backend's
    # certificate made and fetched earlier in this very run is in it (a first deploy is
    # one run), and a backend's new certificate reaches the gateway (and its reload) in
    # the run that fetched it.
    # A backend's certificate replaced in this run is trusted in its old form too until both
    # have reloaded (below), so no handshake fails in between.
    proxy_contents[proxy.BACKEND_CA_FILENAME] = lambda: backend_trust_bundle(
        gateway.pool, host.state.is_executing, transitional=True)
# One operation per possible file on every host (None: not used here), so each name means
# the same file on every host in pyinfra's results.
proxy_ops = [
    stack.file(name=f"Write the proxy config file {filename} (if the settings use it).",
               path=lay.proxy_file(filename), content=proxy_contents.get(filename),
               stack_dir=d, mode=0o640, gid=gid, keep_previous=True)
    for filename in proxy.all_proxy_filenames()
]
cleanup = stack.files_absent(
    name="Remove files the current settings no longer use, and uploads an interrupted run left.",
    paths=stale, stack_dir=d, only={lay.proxy_dir: sorted(proxy_files)})

compose_file = stack.file(name="Write the Compose file.", path=lay.compose_file,
                          content=lambda: compose.render_compose(
                              s, gateway=gateway is not None,
                              host_memory_mb=known(MemoryTotal)
                              if s.ollama_memory_limit == "auto" and gateway is None else None),
                          # kept until the proxy has loaded the config: a failed reload puts both back
                          stack_dir=d, mode=0o644, keep_previous=True)

# --- Images and the running stack -----------------------------------------------------
images_op = images.present(
    name="Ensure the stack's images are on the host (pulled, or loaded from archives).",
    refs=image_refs, source=s.images_source,
    archive_dir=s.images_archive_dir,
)
up = stack.running(
    name="Ensure the Compose stack runs as configured.",
    stack_dir=d, project=s.stack_project, changed_by=[compose_file, images_op],
    proxy_container=lay.proxy_container,
)
if gateway is not None and gateway.pool.tls:
    # Before any backend reloads with a certificate it made in this run (below), the gateway
    # loads the bundle that trusts the new one beside the old one: no handshake fails.
    stack.proxy_loaded(
        name="Reload the gateway so it trusts its backends' new certificates before they serve them.",
        container=lay.proxy_container, conf_dir=lay.proxy_dir, stack_dir=d,
        changed_by=[proxy_ops[proxy.all_proxy_filenames().index(proxy.BACKEND_CA_FILENAME)]],
    )
if gateway is not None:
    # Its backends accept the new credential beside the previous one by now; checked, so
    # that the reload below switches the gateway without a refused request.
    gateway_ops.backends_accept(
        name="Wait until every backend accepts the gateway's credential (only when it changes).",
        service=gateway.service, pool=gateway.pool, stack_dir=d, container=lay.proxy_container,
        changed_by=service_ops, trust_file=lay.proxy_file(proxy.BACKEND_CA_FILENAME),
    )
# A changed proxy config or certificate is applied in place; a credential file needs nothing.
# After `up` too: nginx resolves the ollama service at (re)load, and a re-created Ollama
# container may have a new address. Also whenever the proxy has not loaded what is on disk
# (a run killed before its reload), whatever this run changed.
stack.proxy_loaded(
    name="Reload the proxy unless it has loaded the config on disk (nginx -t first).",
    container=lay.proxy_container, conf_dir=lay.proxy_dir, stack_dir=d,
    changed_by=[*proxy_ops, *service_ops, *tls_ops, cleanup, up],
)
if cfg.role == "backend":
    # The gateway has reloaded (pyinfra runs each operation on every host before the next):
    # the previous value of its credential goes.
    credentials.previous_dropped(
        name="Write the credential file without the gateway's previous credential (once the gateway switched).",
        path=cred_path, content=credential_text, kept=kept_previous, gateway=cfg.gateway_name, stack_dir=d,
        mode=0o640, gid=gid,
    )

if gateway is not None and gateway.pool.tls:
    # Every backend has reloaded (pyinfra runs each operation on every host before the
    # next): the certificates they replaced are trusted no longer.
    final_trust = stack.file(
        name="Write the backends' certificates without those they replaced (every backend has reloaded).",
        path=lay.proxy_file(proxy.BACKEND_CA_FILENAME), stack_dir=d, mode=0o640, gid=gid,
        content=lambda: backend_trust_bundle(gateway.pool, host.state.is_executing))
    stack.proxy_loaded(
        name="Reload the gateway once it trusts only its backends' current certificates.",
        container=lay.proxy_container, conf_dir=lay.proxy_dir, stack_dir=d, changed_by=[final_trust],
    )

# --- ACME: the certificate, asked for only when needed, once the proxy answers port 80 ---
if s.proxy_tls == "acme":
    acme.ensure(s, lay)
else:
    acme.absent(name="Ensure certbot keeps no certificate of this stack (TLS mode is not acme).",
                cert_name=tls_module.cert_name(s))

# --- Models (a gateway has none: its backends take its model list) ---------------------
if gateway is None and s.models_source == "local":
    # Air-gapped hosts: from the operator's models directory or archive, only missing blobs.
    models.copied(
        name="Ensure the models are in place, copied from models_local_path (only missing blobs).",
        store_path=str(resolve_local_path(s.models_local_path, Path.cwd())), models=list(s.models),
        volume=compose.models_volume(s), stack_dir=d, container=lay.ollama_container,
        prune=s.models_prune,
    )
elif gateway is None:
    models.pulled(
        name="Ensure the models are pulled (only missing ones).",
        container=lay.ollama_container, models=list(s.models), prune=s.models_prune,
    )

# --- Verification: the right clients in, everyone else out ---------------------------
if s.verify_enabled:
    endpoint.verified(cfg)
