"""The pyinfra CLI, plus a record of how long each remote command took (for bench/rerun_bench.py).

    .venv/bin/python bench/timed_pyinfra.py -y inventory/lab.py deploy.py

Runs pyinfra's own CLI entry point unchanged; the only addition: every remote command's
duration, as pyinfra waits for it (sent -> exit status read: the host's own work plus the
round trip), and pyinfra's CPU time, are written as JSON to $OLLAMA_GATE_BENCH_TIMES when
the run ends. The bench prints them beside the wall time, so a reader can tell the hosts'
share from pyinfra's and from waiting for a core on a busy machine.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time

from pyinfra.api.host import Host
from pyinfra_cli.main import main

TIMES: dict = {"commands": [], "cpu": None}
# The verification's one curl (facts/http.py HttpProbes) is recognised by its options.
BATCH_CURL = "curl -sS --parallel"
_run_shell_command = Host.run_shell_command


def _timed(self, command, *args, **kwargs):
    start = time.monotonic()
    try:
        return _run_shell_command(self, command, *args, **kwargs)
    finally:
        text = str(command)
        # What it was, never the command line itself.
        what = "state" if "__OLLAMA_GATE_SECTION__" in text else "verify" if BATCH_CURL in text else "other"
        TIMES["commands"].append({"host": self.name, "seconds": round(time.monotonic() - start, 4), "what": what})


def _write() -> None:
    TIMES["cpu"] = round(time.process_time(), 3)
    path = os.environ.get("OLLAMA_GATE_BENCH_TIMES")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(TIMES, f)


if __name__ == "__main__":
    Host.run_shell_command = _timed
    atexit.register(_write)
    sys.argv[0] = "pyinfra"
    sys.exit(main())
