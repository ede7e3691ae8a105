"""Command line of the lab.

    python -m lab up [--hosts N] [--rebuild]   build missing images, start N hosts (2)
    python -m lab up --fleet [--hosts N]       N hosts (3): host 1 a gateway, the rest backends
    python -m lab status                       what is up, and whether it answers
    python -m lab endpoints [--no-check]       each host's curl line and ThingsBoard form,
                                                     checked: 200 for its credential, 401 else
    python -m lab down [--images] [--engine]   remove hosts, volumes, key, secrets, state;
                                                     --images: the lab's images too;
                                                     --engine: stop the dockerd the lab started
    python -m lab build [--rebuild]            only build and save the images
    python -m lab ssh N [COMMAND...]           a root shell (or COMMAND) on host N
    python -m lab secret NAME                  print one lab credential's value

Everything it makes is named ollama-gate-lab* (containers, volumes, images) or lives in
.lab/ (state, SSH key, secrets, image archives); `down` removes exactly that, and only
what this checkout made: containers and volumes carry the checkout's path as a label, and
`up`/`down` refuse, naming the other checkout, a lab of the same name made elsewhere.
Without OLLAMA_GATE_LAB_NAME the lab is the one .lab/lab.json describes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from . import (ENV_NAME, HOST_IMAGE, IMAGES_DIR, LAB_DIR, LAB_NAME, RECORDED_NAME, SECRETS_FILE,
               SSH_DIR, STANDIN_IMAGES, STATE_FILE)
from . import engine, hosts, images, state
from .run import docker, log


def up(n_hosts: int = 2, rebuild: bool = False, wait_ollama: float = 0, fleet: bool = False) -> dict:
    """Bring the lab up (reusing images and hosts that are there); return lab.json.

    fleet: host 1 is a gateway in front of the others (its backends), as `make demo-fleet`.
    """
    start = time.monotonic()
    check_recorded_name()
    engine.ensure_engine()
    recorded = state.read_state() is not None
    # A lab of this name that another checkout made is never taken over or removed here.
    hosts.check_ownership(recorded)
    timings = images.ensure_images(rebuild=rebuild, wait_ollama=wait_ollama)
    for what, seconds in timings.items():
        log(f"  {what}: {seconds:.1f} s")
    if not recorded and (leftovers := hosts.lab_containers() + hosts.lab_volumes()):
        # This checkout's hosts without its lab.json: left by a killed run of this checkout,
        # their keys are gone, so start from fresh hosts.
        log(f"removing a lab this checkout left without a lab.json: {', '.join(leftovers)}")
        hosts.remove_hosts()
    public_key = hosts.ensure_ssh_key()
    # Hosts beyond N belong to an earlier, bigger lab: remove them.
    wanted = {hosts.host_name(i) for i in range(1, n_hosts + 1)}
    for name in hosts.lab_containers():
        if name not in wanted and name.rsplit("-", 1)[-1].isdigit():
            index = int(name.rsplit("-", 1)[-1])
            log(f"removing {name} (more hosts than --hosts {n_hosts})")
            docker("rm", "-f", "-v", name, capture=True)
            docker("volume", "rm", "-f", hosts.volume_name(index), check=False, capture=True)
    taken: set[int] = set()
    started = [hosts.start_host(i, taken) for i in range(1, n_hosts + 1)]
    boot = time.monotonic()
    entries = []
    for index, host in enumerate(started, start=1):
        hosts.authorize_key(host["name"], public_key)
        ready = hosts.wait_ssh(host["ssh_port"])
        log(f"{host['name']}: SSH ready ({time.monotonic() - boot:.1f} s after start, "
            f"{ready:.1f} s waited)")
        if fleet:
            host["lab_address"] = hosts.lab_address(host["name"])
        entries.append(state.host_entry(index, host, state.ensure_credential(index, fleet), fleet))
        hosts.drop_stale_standins(host["name"], {ref: images.image_id(ref) for ref in STANDIN_IMAGES})
    lab = state.write_state(entries, fleet)
    log(f"lab up in {time.monotonic() - start:.1f} s: {n_hosts} host(s), state in {STATE_FILE}")
    return lab


def down(remove_images: bool = False, stop_engine: bool = False) -> None:
    """Remove what this checkout's lab made: hosts, volumes, key, secrets, state (and images
    if asked). Refuses (hosts.NotOurs), removing nothing, when the lab of that name holds
    containers or volumes another checkout made."""
    check_recorded_name()
    if engine.engine_answers():
        hosts.check_ownership(state.read_state() is not None)
        for name in hosts.remove_hosts():
            log(f"removed {name}")
        if remove_images:
            for name in images.remove_images():
                log(f"removed {name}")
    elif remove_images or STATE_FILE.exists():
        log("no Docker engine answers: containers and volumes (if any) were left alone")
    for path in (STATE_FILE, SECRETS_FILE):
        if path.exists():
            path.unlink()
            log(f"removed {path}")
    if SSH_DIR.exists():
        shutil.rmtree(SSH_DIR)
        log(f"removed {SSH_DIR}")
    if stop_engine and engine.stop_engine_if_ours():
        log("stopped the dockerd the lab had started")
        engine.DOCKERD_LOG.unlink(missing_ok=True)
    # .lab/ itself goes when nothing of the lab is left in it.
    if LAB_DIR.exists() and not any(LAB_DIR.iterdir()):
        LAB_DIR.rmdir()


def check_recorded_name() -> None:
    """Refuse when OLLAMA_GATE_LAB_NAME names another lab than this checkout's lab.json."""
    if RECORDED_NAME is not None and RECORDED_NAME != LAB_NAME:
        raise SystemExit(f"lab: {ENV_NAME}={LAB_NAME} but this checkout's lab is {RECORDED_NAME} "
                         f"({STATE_FILE}); nothing was changed. Unset {ENV_NAME} (or set it to "
                         f"{RECORDED_NAME}), or take that lab down first.")


def status() -> int:
    """Print what is up; 0 when every host of lab.json runs and answers over SSH."""
    if not engine.engine_answers():
        print("Docker engine: not answering (python -m lab up starts one)")
        return 1
    for ref in (images.BASE_IMAGE, HOST_IMAGE, *STANDIN_IMAGES):
        print(f"image {ref}: {'present' if images.image_exists(ref) else 'missing'}")
    for ref in STANDIN_IMAGES:
        archive = IMAGES_DIR / images.archive_filename(ref)
        print(f"archive {archive}: {'present' if archive.exists() else 'missing'}")
    lab = state.read_state()
    if lab is None:
        print(f"no lab: {STATE_FILE} does not exist")
        return 1
    problems = 0
    for host in lab["hosts"]:
        info = hosts.inspect(host["name"])
        running = bool(info and info["State"]["Running"])
        line = f"{host['name']}: {'running' if running else 'NOT running'}"
        if running:
            result = hosts.ssh(host["ssh_port"], "systemctl is-system-running; "
                               "command -v docker >/dev/null && docker --version || "
                               "echo no docker", timeout=20)
            if result.returncode in (0, 1) and result.stdout:
                systemd, dockerv = (result.stdout.strip().splitlines() + ["", ""])[:2]
                line += f", ssh ok (127.0.0.1:{host['ssh_port']}), systemd {systemd}, {dockerv}"
            else:
                line += f", ssh FAILED on 127.0.0.1:{host['ssh_port']}"
                problems += 1
        else:
            problems += 1
        line += f", {host['auth_mode']} proxy on {host['proxy_url']}"
        print(line)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab",
                                     description="The ollama-gate lab: Debian 13 hosts in "
                                                 "containers, and stand-in images.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="build missing images and start the lab hosts")
    p.add_argument("--hosts", type=int, default=None, metavar="N",
                   help="number of hosts (2; with --fleet 3)")
    p.add_argument("--fleet", action="store_true",
                   help="host 1 a gateway, the others its backends (make demo-fleet)")
    p.add_argument("--rebuild", action="store_true", help="build every image again")
    p.add_argument("--wait-ollama", type=float, default=0, metavar="S",
                   help="wait up to S seconds for lab/images/ollama/Dockerfile")
    p = sub.add_parser("down", help="remove what the lab made")
    p.add_argument("--images", action="store_true", help="remove the lab's images too")
    p.add_argument("--engine", action="store_true", help="stop the dockerd the lab started")
    sub.add_parser("status", help="show the lab")
    p = sub.add_parser("endpoints", help="print and check each host's endpoint")
    p.add_argument("--no-check", action="store_true", help="print only")
    p = sub.add_parser("build", help="only build and save the images")
    p.add_argument("--rebuild", action="store_true")
    p = sub.add_parser("ssh", help="ssh to host N as root")
    p.add_argument("index", type=int)
    p.add_argument("remote", nargs=argparse.REMAINDER)
    p = sub.add_parser("secret", help="print the value of one lab credential")
    p.add_argument("name")
    args = parser.parse_args(argv)

    if args.command == "up":
        n_hosts = args.hosts or (3 if args.fleet else 2)
        if n_hosts < (2 if args.fleet else 1):
            parser.error("--hosts must be at least 1 (2 with --fleet: a gateway and a backend)")
        up(n_hosts, args.rebuild, args.wait_ollama, args.fleet)
        return status()
    if args.command == "down":
        down(args.images, args.engine)
        return 0
    if args.command == "status":
        return status()
    if args.command == "build":
        engine.ensure_engine()
        for what, seconds in images.ensure_images(rebuild=args.rebuild).items():
            log(f"  {what}: {seconds:.1f} s")
        return 0
    lab = state.read_state()
    if lab is None:
        print(f"no lab: {STATE_FILE} does not exist; run python -m lab up", file=sys.stderr)
        return 1
    if args.command == "endpoints":
        return state_endpoints(lab, not args.no_check)
    if args.command == "secret":
        print(state.secret_value(args.name, lab))
        return 0
    if args.command == "ssh":
        host = next((h for h in lab["hosts"] if h["name"] == hosts.host_name(args.index)), None)
        if host is None:
            print(f"no lab host {args.index}", file=sys.stderr)
            return 1
        cmd = hosts.ssh_command(host["ssh_port"], *args.remote, batch=False)
        os.execvp(cmd[0], cmd)
    return 2


def state_endpoints(lab: dict, check: bool) -> int:
    from .endpoints import endpoints
    return endpoints(lab, check)


if __name__ == "__main__":
    sys.exit(main())
