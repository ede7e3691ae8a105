"""Test deploy (not for users): write a proxy config that nginx -t refuses, then reload.

Run against one lab host in basic mode; the reload must fail, put the previous config
back and leave the running proxy serving.
"""

from pyinfra import host

from ollama_gate.config import config_for_host
from ollama_gate.operations import stack
from ollama_gate import auth
from ollama_gate.proxy import CONF_FILENAME
from pyinfra import inventory

s = config_for_host(host, inventory).settings
conf_dir = f"{s.stack_dir}/proxy"
broken = stack.file(
    name="Write a proxy config that nginx -t refuses.",
    path=f"{conf_dir}/{CONF_FILENAME}", content="this is not an nginx directive;\n",
    stack_dir=s.stack_dir, mode=0o640, gid=auth.mode_of(s).worker_gid, keep_previous=True,
)
stack.proxy_loaded(
    name="Reload the proxy unless it has loaded the config on disk (nginx -t first).",
    container=f"{s.stack_project}-proxy", conf_dir=conf_dir, stack_dir=s.stack_dir, changed_by=[broken],
)
