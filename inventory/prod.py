"""Example production inventory: copy it, replace the placeholders, keep secrets out of it.

    OLLAMA_GATE_SECRETS=~/ollama-gate/secrets.yml python -m ollama_gate check inventory/prod.py
    OLLAMA_GATE_SECRETS=~/ollama-gate/secrets.yml pyinfra inventory/prod.py deploy.py

Settings and their defaults are in group_data/all.py (and the README). Data given here
beats group data (group_data/<group>.py), which beats group_data/all.py. Passwords and
keys never go here: they live in the secrets file, named; `auth_credentials` picks
names from it.
"""

# HTTP Basic endpoints (nginx + .htpasswd): the default auth_mode.
gpu_basic = [
    ("gpu1.example.com", {
        "ssh_user": "root",
        "auth_credentials": ["alice", "bob"],
    }),
]

# Bearer API keys (OpenResty + SHA-256 digests), published on 443 with a self-signed
# certificate made on the host.
gpu_bearer = [
    ("gpu2.example.com", {
        "ssh_user": "admin",
        "_sudo": True,
        "auth_mode": "bearer",
        "auth_credentials": ["ci-runner"],
        "proxy_port": 443,
        "proxy_tls": "self-signed",
        "models": ["gemma3:1b", "nomic-embed-text"],
        "ollama_gpu": True,
    }),
]
