"""ollama-gate: remove the gate from each host.

    pyinfra -y inventory/prod.py uninstall.py                             # keeps the models
    pyinfra -y inventory/prod.py uninstall.py --data uninstall_models=True   # models too

Stops and removes the stack's containers and network, removes the stack directory (compose
file, proxy config, credential files, TLS files) and, when asked, the models volume and the
stack's images. Docker stays installed and configured: it may serve other things. A host
without a gate is left unchanged. Deploying again afterwards works as a first deploy.
"""

from pyinfra import host, inventory

from ollama_gate.config import settings_for_host
from ollama_gate import tls
from ollama_gate.operations import acme, snapshot, uninstall

s = settings_for_host(host, inventory)

# The same lock a deploy takes: an uninstall and a deploy of one host never run at once.
uninstall.locked(
    name="Take the host's lock (wait for a deploy or uninstall already running there).",
    stack_dir=s.stack_dir, wait=snapshot.lock_wait(),
)

uninstall.containers_absent(
    name="Ensure the gate's containers and network are removed.",
    project=s.stack_project, stack_dir=s.stack_dir,
)
uninstall.models_absent(
    name="Ensure the models volume is removed if uninstall_models is set (kept otherwise).",
    project=s.stack_project, stack_dir=s.stack_dir, remove=s.uninstall_models,
)
# certbot's lineage of an acme stack: its timer would renew it and call a deploy hook that
# is about to be removed with the stack directory.
acme.absent(name="Ensure certbot keeps no certificate of this stack.", cert_name=tls.cert_name(s))
uninstall.directory_absent(
    name="Ensure the stack directory (config, credential and TLS files) is removed.",
    project=s.stack_project, stack_dir=s.stack_dir,
)
if s.uninstall_images:
    uninstall.images_absent(
        name="Ensure the stack's images are removed (uninstall_images).",
        refs=list(s.images),
    )
