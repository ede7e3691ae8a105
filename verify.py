"""ollama-gate: prove the endpoints without deploying anything.

    pyinfra inventory/prod.py verify.py

The same checks deploy.py runs at its end (each credential in; wrong, missing and retired
ones out; admin routes forbidden; one short generation), for CI or after maintenance.
"""

from pyinfra import host, inventory

from ollama_gate.config import config_for_host
from ollama_gate.operations import endpoint

endpoint.verified(config_for_host(host, inventory))
