"""Verification alone, without deploying: `pyinfra inventory/lab.py tests/e2e/verify_only.py`.

The end-to-end tests use it to prove that a broken endpoint fails the run (a full deploy
would repair it first), and add it after deploy.py while deploy.py does not verify itself.
"""

from pyinfra import host, inventory

from ollama_gate.config import config_for_host
from ollama_gate.operations import verify
from ollama_gate.secrets import load_secrets, secrets_path

cfg = config_for_host(host, inventory)
verify.endpoint(
    name="Verify the endpoint: each credential in, wrong, missing and retired ones out.",
    cfg=cfg, retired=load_secrets(secrets_path(), cfg.settings.auth_password_min_length).retired,
)
