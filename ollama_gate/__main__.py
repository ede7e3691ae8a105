"""Command line: check an inventory, and make or rotate credentials in the secrets file.

    python -m ollama_gate check INVENTORY     check settings and secrets, connect to nothing
    python -m ollama_gate new-user NAME       add an HTTP Basic user with a random password
    python -m ollama_gate new-key NAME        add a Bearer API key
    python -m ollama_gate rotate NAME         give a user or key a new random value
    python -m ollama_gate remove NAME         delete a user or key
    python -m ollama_gate models-archive OUT MODEL...   archive models from ~/.ollama/models

The secrets file is $OLLAMA_GATE_SECRETS (default: secrets.yml in the project). A new value
is printed once on standard output and nowhere else; messages go to standard error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import auth
from . import secrets_file as secrets_mod
from .config import check_hosts, inventory_hosts
from .settings import ConfigError


def _check(args) -> int:
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    if not Path(args.inventory).exists():
        print(f"error: no inventory file {args.inventory!r}", file=sys.stderr)
        return 2
    # pyinfra's inventory loader expects a state to exist, as under the pyinfra CLI.
    with ctx_state.use(State(config=Config())):
        inventory = make_inventory(args.inventory, cwd=os.getcwd())
    configs = check_hosts(inventory_hosts(inventory), base_dir=Path.cwd())
    for name, cfg in configs.items():
        print(f"{name}: ok ({cfg.settings.auth_mode}, {len(cfg.credentials)} credential(s): "
              f"{', '.join(cfg.credentials)})")
    return 0


def _new(section: str):
    def run(args) -> int:
        path = secrets_mod.secrets_path()
        value = secrets_mod.add(path, section, args.name)
        kind = auth.by_section(section).new_command.removeprefix("new-")
        print(f"added {kind} {args.name!r} to {path}; the value below is shown only now:", file=sys.stderr)
        print(value)
        return 0
    return run


def _rotate(args) -> int:
    path = secrets_mod.secrets_path()
    section, value = secrets_mod.rotate(path, args.name)
    print(f"rotated {args.name!r} ({section}) in {path}; rerun the deploy to apply. New value:",
          file=sys.stderr)
    print(value)
    return 0


def _remove(args) -> int:
    path = secrets_mod.secrets_path()
    section = secrets_mod.remove(path, args.name)
    print(f"removed {args.name!r} ({section}) from {path}; rerun the deploy to apply", file=sys.stderr)
    return 0


def _models_archive(args) -> int:
    from .model_store import ModelStoreError, build_archive
    from .model_names import model_name_error

    bad = [err for err in map(model_name_error, args.models) if err]
    if bad:
        print("error: " + "; ".join(bad), file=sys.stderr)
        return 1
    try:
        files, size = build_archive(Path(args.source).expanduser(), args.models, Path(args.out))
    except ModelStoreError as e:
        print(f"error: {args.source}: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {len(args.models)} model(s), {files} file(s), {size / 1e6:.1f} MB of blobs; "
          "set models_source = \"local\" and models_local_path to it", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ollama_gate", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="check settings and secrets of every host of an inventory")
    p.add_argument("inventory")
    p.set_defaults(func=_check)
    for mode in auth.MODES.values():
        p = sub.add_parser(mode.new_command, help=f"add a random credential under '{mode.section}:' "
                                                   f"(auth_mode {mode.name})")
        p.add_argument("name")
        p.set_defaults(func=_new(mode.section))
    p = sub.add_parser("rotate", help="replace a credential's value with a new random one")
    p.add_argument("name")
    p.set_defaults(func=_rotate)
    p = sub.add_parser("remove", help="delete a credential")
    p.add_argument("name")
    p.set_defaults(func=_remove)
    p = sub.add_parser("models-archive", help="write a tar of the listed models (manifests and blobs) "
                                              "from an Ollama models directory, for models_local_path")
    p.add_argument("out", help="the archive to write (a .tar)")
    p.add_argument("models", nargs="+", help="model names, as in the models setting")
    p.add_argument("--from", dest="source", default=os.environ.get("OLLAMA_MODELS") or "~/.ollama/models",
                   help="the models directory (default: $OLLAMA_MODELS or ~/.ollama/models)")
    p.set_defaults(func=_models_archive)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"error: {len(e.errors)} problem(s):\n{e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
