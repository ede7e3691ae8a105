"""Hand-written mutants: regressions a Python mutation tool cannot make.

mutmut mutates function bodies of Python modules. What it never touches: the nginx
template, the Lua module, the compose template, deploy.py's modes, and module-level
constants (route lists, hash costs, length limits, setting bounds). Each mutant here is one
such regression, applied as a text replacement to a copy of the project, and ``tests``
(fast suites only) must fail on it. ``proof`` names the test written for issue #16 that
must catch it on its own (``python -m tests.mutation.run --proofs``): that is how each gap
test was shown to fail on its regression.

A mutant whose ``old`` text is no longer in its file is reported as stale: update it with
the code, do not drop it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

RENDER = "tests/unit/test_proxy_render.py"
BASIC_IT = "tests/integration/test_proxy_basic.py"
BEARER_IT = "tests/integration/test_proxy_bearer.py"
TLS_IT = "tests/integration/test_proxy_tls.py"
PROXY = [RENDER, "tests/unit/test_auth.py", BASIC_IT, BEARER_IT, TLS_IT]
SECRETS = ["tests/unit/test_secrets_file.py", "tests/unit/test_secrets_values.py", "tests/unit/test_narrowing.py",
           "tests/unit/test_auth.py", "tests/unit/test_credentials.py"]
CHECKS = ["tests/unit/test_checks.py", "tests/unit/test_judge_refusals.py", "tests/facts"]
DEPLOY = ["tests/unit/test_compose_render.py", "tests/unit/test_deploy_plan.py"]
SETTINGS = ["tests/unit/test_settings.py", "tests/unit/test_setting_bounds.py"]


@dataclass(frozen=True)
class HandMutant:
    id: str
    area: str
    file: str
    old: str
    new: str
    tests: list[str]
    proof: list[str] = field(default_factory=list)

    def apply(self, project: Path) -> str | None:
        """Apply to the copy at ``project``; a status when it cannot be applied."""
        path = project / self.file
        if not path.exists():
            return f"stale ({self.file} is gone)"
        text = path.read_text()
        count = text.count(self.old)
        if count != 1:
            return f"stale ({count} matches of its text in {self.file})"
        path.write_text(text.replace(self.old, self.new))
        return None


TEMPLATE = "templates/proxy/ollama-gate.conf.j2"
LUA = "files/proxy/ollama_gate_auth.lua"
COMPOSE = "templates/compose.yml.j2"

HAND_MUTANTS = [
    # --- nginx template -------------------------------------------------------------
    HandMutant("template-one-route-without-auth", "template", TEMPLATE,
               "    location = {{ route }} {\n{{ authenticate() }}",
               "    location = {{ route }} {\n{{ authenticate() if route != \"/api/chat\" else \"\" }}",
               PROXY),
    HandMutant("template-model-route-without-auth", "template", TEMPLATE,
               "    location ~ ^{{ pattern }}$ {\n{{ authenticate() }}",
               "    location ~ ^{{ pattern }}$ {\n",
               PROXY),
    HandMutant("template-basic-auth-off", "template", "templates/proxy/auth/basic.conf.j2",
               'auth_basic "{{ realm }}";', "auth_basic off;", PROXY),
    HandMutant("template-forwards-authorization", "template", TEMPLATE,
               '{% else %}\n    proxy_set_header Authorization "";\n{% endif %}',
               "{% else %}\n{% endif %}", PROXY),
    HandMutant("template-forwards-proxy-authorization", "template", TEMPLATE,
               '    proxy_set_header Proxy-Authorization "";\n', "", PROXY),
    HandMutant("template-admin-match-case-sensitive", "template", TEMPLATE,
               'location ~* ^/api/({{ admin_routes | join("|") }})', 'location ~ ^/api/({{ admin_routes | join("|") }})',
               PROXY),
    HandMutant("template-admin-match-without-suffix", "template", TEMPLATE,
               '({{ admin_routes | join("|") }})(/|$)', '({{ admin_routes | join("|") }})$', PROXY),
    HandMutant("template-fallback-proxies", "template", TEMPLATE,
               "    location / {\n        return 404;\n    }",
               "    location / {\n        proxy_pass {{ scheme }}://ollama_gate_ollama;\n    }", PROXY),
    HandMutant("template-widen-ssl-protocols", "template", TEMPLATE,
               "    ssl_protocols TLSv1.2 TLSv1.3;\n",
               # Without the lower security level OpenSSL 3 refuses TLS 1.0/1.1 whatever
               # ssl_protocols says; an old "compatibility" config lowers both.
               "    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;\n    ssl_conf_command CipherString ALL:@SECLEVEL=0;\n",
               PROXY, proof=[f"{TLS_IT}::test_older_protocols_are_refused_by_the_server"]),
    HandMutant("template-no-hsts", "template", TEMPLATE,
               '    add_header Strict-Transport-Security "max-age=63072000" always;\n', "", PROXY),
    HandMutant("template-counts-valid-requests", "template", TEMPLATE,
               "    gzip off;\n", "    gzip off;\n    limit_req zone=ollama_gate_fail burst={{ fail_burst }} nodelay;\n",
               PROXY),
    HandMutant("template-logs-authorization", "template", TEMPLATE,
               '"$http_user_agent"\';', '"$http_user_agent" "$http_authorization"\';', PROXY),

    HandMutant("template-gateway-forwards-client-credentials", "template", TEMPLATE,
               "    include {{ service_auth_conf }};\n", "", PROXY + ["tests/integration/test_gateway.py"]),

    # --- Lua module -------------------------------------------------------------------
    HandMutant("lua-accepts-failed-lookup", "lua", LUA,
               "        return deny(ngx.HTTP_UNAUTHORIZED, challenge_invalid)\n    end\n    ngx.var.ollama_gate_user = name",
               "        name = \"-\"\n    end\n    ngx.var.ollama_gate_user = name",
               [BEARER_IT]),
    HandMutant("lua-keeps-old-keys-when-unreadable", "lua", LUA,
               "    keys, loaded, expiries = nil, nil, nil\nend", "end", [BEARER_IT]),
    HandMutant("lua-fails-open-without-keys", "lua", LUA,
               "        return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)", "        return", [BEARER_IT]),
    HandMutant("lua-case-sensitive-digests", "lua", LUA,
               "                sum = sum:lower()\n", "", [BEARER_IT],
               proof=[f"{BEARER_IT}::test_digest_lines_are_read_in_either_case"]),
    HandMutant("lua-ignores-expiry", "lua", LUA,
               "        if expiry and ngx.now() >= expiry then", "        if false then", [BEARER_IT]),
    HandMutant("lua-accepts-any-scheme", "lua", LUA,
               'if lower(sub(authorization, 1, 7)) ~= "bearer " then', "if false then", [BEARER_IT]),
    HandMutant("lua-no-token-length-limit", "lua", LUA,
               "local MAX_TOKEN = 1024", "local MAX_TOKEN = 1000000", [BEARER_IT]),
    HandMutant("lua-never-reloads", "lua", LUA,
               "    if keys and content == loaded then", "    if keys then", [BEARER_IT]),

    # --- Compose and deploy.py --------------------------------------------------------
    HandMutant("compose-publishes-ollama", "compose", COMPOSE,
               "    volumes:\n      - ollama-models:/root/.ollama\n",
               "    ports:\n      - \"11434:11434\"\n    volumes:\n      - ollama-models:/root/.ollama\n",
               DEPLOY, proof=["tests/unit/test_compose_render.py::test_ollama_is_never_published"]),
    HandMutant("compose-mounts-writable", "compose", COMPOSE,
               "      - {{ host_dir }}:{{ container_dir }}:ro", "      - {{ host_dir }}:{{ container_dir }}", DEPLOY),
    HandMutant("deploy-credential-file-world-readable", "compose", "deploy.py",
               "path=cred_path, stack_dir=d, mode=0o640", "path=cred_path, stack_dir=d, mode=0o644", DEPLOY,
               proof=["tests/unit/test_deploy_plan.py::test_credential_file_is_root_and_the_proxy_workers_only"]),
    HandMutant("deploy-credential-file-not-sensitive", "compose", "deploy.py",
               "path=cred_path, stack_dir=d, mode=0o640, gid=gid, sensitive=True",
               "path=cred_path, stack_dir=d, mode=0o640, gid=gid, sensitive=False", DEPLOY),

    # --- Module-level constants (mutmut leaves them alone) ------------------------------
    HandMutant("routes-admin-route-allowed", "constants", "ollama_gate/proxy.py",
               '    "/v1/models",\n)', '    "/v1/models",\n    "/api/create",\n)', PROXY),
    HandMutant("routes-drop-allowed-route", "constants", "ollama_gate/proxy.py",
               '    "/api/embed",\n', "", PROXY,
               proof=[f"{RENDER}::test_every_proxying_location_authenticates_and_never_returns"]),
    HandMutant("routes-drop-admin-route", "constants", "ollama_gate/proxy.py",
               '"pull", "push", "delete",', '"pull", "push",', PROXY),
    HandMutant("routes-model-pattern-widened", "constants", "ollama_gate/proxy.py",
               '"/v1/models/[A-Za-z0-9][A-Za-z0-9._:-]*"', '"/v1/models/.*"', PROXY),
    HandMutant("key-min-length-8", "constants", "ollama_gate/auth/bearer.py",
               "KEY_MIN_LENGTH = 32", "KEY_MIN_LENGTH = 8", SECRETS),
    HandMutant("key-charset-widened", "constants", "ollama_gate/auth/bearer.py",
               r'B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")', r'B64TOKEN = re.compile(r"[^\n]+")',
               SECRETS + CHECKS),
    # The salt is derived (credentials.derived_salt), so HASHERS' salt_size only reads hashes.
    HandMutant("ssha-short-salt", "constants", "ollama_gate/credentials.py",
               "        return digest[:16]\n", "        return digest[:4]\n", SECRETS),
    HandMutant("bcrypt-cost-4", "constants", "ollama_gate/credentials.py",
               "bcrypt.using(rounds=5,", "bcrypt.using(rounds=4,", SECRETS),
    HandMutant("password-min-length-floor-8", "constants", "ollama_gate/settings.py",
               "_int_in(v, 12, 1024)", "_int_in(v, 8, 1024)", SETTINGS,
               proof=["tests/unit/test_setting_bounds.py"]),
    HandMutant("password-min-length-no-ceiling", "constants", "ollama_gate/settings.py",
               "_int_in(v, 12, 1024)", "_int_in(v, 12, 10**9)", SETTINGS,
               proof=["tests/unit/test_setting_bounds.py"]),

    # --- The regressions of issue #16's gaps, in functions (each proof is the gap's test) --
    HandMutant("gap-narrowing-ignored", "gaps", "ollama_gate/secrets_file.py",
               "    return Assignment({n: section[n] for n in sorted(set(names)) if n in section}",
               "    return Assignment(dict(sorted(section.items()))",
               SECRETS, proof=["tests/unit/test_narrowing.py"]),
    HandMutant("gap-yaml-error-quotes-the-line", "gaps", "ollama_gate/secrets_file.py",
               'is not valid YAML{where}"]) from None', 'is not valid YAML{where}: {e}"]) from None',
               SECRETS, proof=["tests/unit/test_secrets_values.py::test_broken_yaml_names_the_line_and_never_quotes_it"]),
    HandMutant("gap-trailing-whitespace-allowed", "gaps", "ollama_gate/secrets_file.py",
               "if value != value.strip():", "if value != value.lstrip():",
               SECRETS, proof=["tests/unit/test_secrets_values.py::test_whitespace_at_either_end_is_refused"]),
    HandMutant("gap-judge-takes-403-503-as-refused", "gaps", "ollama_gate/checks.py",
               "        if status == 429:", "        if status in (429, 403, 503):",
               CHECKS, proof=["tests/unit/test_judge_refusals.py::test_anything_but_401_or_429_is_not_a_refusal"]),
    HandMutant("gap-retired-basic-by-value-only", "gaps", "ollama_gate/auth/basic.py",
               "        return (name, value)", "        return value",
               CHECKS, proof=["tests/unit/test_judge_refusals.py::"
                              "test_a_retired_password_equal_to_another_users_current_one_is_probed_under_its_name"]),
    HandMutant("gap-stdin-plain-stringio", "gaps", "ollama_gate/facts/http.py",
               "class SecretStdin(StringIO):", "SecretStdin = StringIO\n\n\nclass _WasSecretStdin(StringIO):",
               CHECKS, proof=["tests/unit/test_checks.py::test_the_stdin_buffer_shows_no_value_in_any_way_pyinfra_prints_it"]),
    HandMutant("gap-stdin-unnamed", "gaps", "ollama_gate/facts/http.py",
               '    name = "<hidden curl config>"\n', "",
               CHECKS, proof=["tests/unit/test_checks.py::test_the_stdin_buffer_shows_no_value_in_any_way_pyinfra_prints_it"]),
]
