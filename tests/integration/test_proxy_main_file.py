"""The OpenResty image's main-context file (conf.d/*.main) against a real nginx: included at
the top level the way the image's nginx.conf includes it, nginx -t reads it as main-context
syntax and takes its pid path, and it is the only pid directive (a second one is refused)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from ollama_gate import proxy
from ollama_gate.settings import Settings
from tests.integration.harness import NGINX


def test_the_main_file_is_valid_in_the_main_context(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "tmp").mkdir()
    main = proxy.render_proxy_config(replace(Settings(), auth_mode="bearer"))[proxy.MAIN_FILENAME]
    (tmp_path / "conf.d" / proxy.MAIN_FILENAME).write_text(main)
    conf = proxy.main_conf("debian", prefix=str(tmp_path), include=f"{tmp_path}/conf.d/*.conf", workers=1,
                           user=False)
    own_pid = f"pid {tmp_path}/nginx.pid;\n"
    assert own_pid in conf
    # Like the image's nginx.conf: no pid of its own, conf.d/*.main included at the top.
    (tmp_path / "nginx.conf").write_text(
        conf.replace(own_pid, f"include {tmp_path}/conf.d/*.main;\n"))
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=20)
    assert "syntax is ok" in result.stderr, result.stderr
    assert "[warn]" not in result.stderr, result.stderr
    # nginx -t opens the pid file it was given: the image's tmpfs dir is not on this host,
    # so the one failure allowed is opening exactly the rendered path (nginx used it).
    if not Path("/var/run/openresty").is_dir():
        emerg = [line for line in result.stderr.splitlines() if "[emerg]" in line]
        assert len(emerg) == 1 and 'open() "/var/run/openresty/nginx.pid" failed' in emerg[0], result.stderr
    else:
        assert result.returncode == 0, result.stderr
    # Control: the same file beside a pid of the main config's own is refused, so nginx
    # really read the rendered pid directive in the main context.
    (tmp_path / "nginx.conf").write_text(conf.replace(own_pid, own_pid + f"include {tmp_path}/conf.d/*.main;\n"))
    twice = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                           capture_output=True, text=True, timeout=20)
    assert twice.returncode != 0
    assert '"pid" directive is duplicate' in twice.stderr, twice.stderr
