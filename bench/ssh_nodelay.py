"""Benchmark: what Nagle's algorithm costs a command's SSH session (snapshot._no_delay, #15).

    .venv/bin/python -m lab up && .venv/bin/python bench/ssh_nodelay.py [--rounds 5]

paramiko (pyinfra's SSH client) sets no socket option, so Nagle's algorithm is on: a small
SSH packet sent while the previous one is unacknowledged waits for the host's delayed ACK
(40 ms on Linux). For the first lab host, with Nagle on and with TCP_NODELAY (what
ollama-gate sets on pyinfra's connection before its first command), each round connects
and runs `true` twice, as a rerun runs its two commands, and prints in milliseconds: the
connect, opening the first session (the host's sshd sets the connection's session up
then), and opening the second. Medians of --rounds. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from pathlib import Path

import paramiko

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import STATE_FILE  # noqa: E402


def one_round(host: dict, key: str, nodelay: bool) -> tuple[float, float, float]:
    sock = socket.create_connection((host["ssh_host"], host["ssh_port"]))
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        start = time.monotonic()
        client.connect(host["ssh_host"], port=host["ssh_port"], username=host["ssh_user"], key_filename=key,
                       look_for_keys=False, allow_agent=False, sock=sock)
        connected = time.monotonic()
        opens = []
        for _ in range(2):
            before = time.monotonic()
            channel = client.get_transport().open_session()
            opens.append(time.monotonic() - before)
            channel.exec_command("true")
            channel.recv_exit_status()
            channel.close()
        return connected - start, opens[0], opens[1]
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lab = json.loads(Path(STATE_FILE).read_text())
    host = lab["hosts"][0]
    for nodelay in (False, True, False, True):
        rounds = [one_round(host, lab["ssh_key"], nodelay) for _ in range(args.rounds)]
        connect, first, second = (statistics.median(x) * 1000 for x in zip(*rounds))
        print(f"{host['name']}, {'TCP_NODELAY' if nodelay else 'Nagle on   '}: connect {connect:.1f} ms, "
              f"first session opened in {first:.1f} ms, second in {second:.1f} ms (medians of {args.rounds})")


if __name__ == "__main__":
    main()
