"""Command line: check an inventory, and make, show or rotate credentials in the secrets file.

    ollama-gate check INVENTORY [--data k=v]   check settings and secrets, print the access
                                               matrix; connects to nothing
    ollama-gate new-user NAME [--expires 30d]  add an HTTP Basic user with a random password
    ollama-gate new-key NAME [--expires 30d]   add a Bearer API key
    ollama-gate rotate NAME [--expires 30d]    give a user or key a new random value
    ollama-gate remove NAME                    delete a user or key (its value is retired)
    ollama-gate show NAME                      print a value, to paste into a client
    ollama-gate models-archive OUT MODEL...    archive models from ~/.ollama/models

(`python -m ollama_gate ...` is the same.) The secrets file is $OLLAMA_GATE_SECRETS
(default: secrets.yml in the project). A value is printed on standard output and nowhere
else; messages go to standard error. The file is edited in place: comments, order and
quoting stay as written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from . import auth
from . import secrets_file as secrets_mod
from .config import check_pyinfra_inventory
from .settings import ConfigError


def _check(args) -> int:
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory
    from pyinfra_cli.util import parse_cli_arg

    if not Path(args.inventory).exists():
        print(f"error: no inventory file {args.inventory!r}", file=sys.stderr)
        return 2
    override = {}
    for item in args.data:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"error: --data {item!r} must be name=value", file=sys.stderr)
            return 2
        override[key] = parse_cli_arg(value)  # as pyinfra reads --data
    # pyinfra's inventory loader expects a state to exist, as under the pyinfra CLI.
    with ctx_state.use(State(config=Config())):
        inventory = make_inventory(args.inventory, override_data=override or None, cwd=os.getcwd())
    checked = check_pyinfra_inventory(inventory, base_dir=Path.cwd())
    for name, cfg in checked.configs.items():
        revoked = f"; revoked: {', '.join(cfg.revoked)}" if cfg.revoked else ""
        print(f"{name}: ok ({cfg.settings.auth_mode}, {len(cfg.credentials)} credential(s): "
              f"{', '.join(cfg.credentials) or 'none'}{revoked})")
    print()
    print("\n".join(checked.matrix))
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _expires(args):
    text = getattr(args, "expires", None)
    if text is None:
        return None
    if text == "never":
        return "never"
    return secrets_mod.expiry_from_cli(text)


def _expiry_note(expires) -> str:
    if expires is None or expires == "never":
        return ""
    return f", expires {secrets_mod.expiry_text(secrets_mod.parse_expiry(expires))}"


def _kind(section: str) -> str:
    """"user", "key": what one credential of the section is called on the command line."""
    return auth.by_section(section).new_command.removeprefix("new-")


def _first_file_note(path: Path) -> None:
    if not path.exists() and not os.environ.get(secrets_mod.ENV_VAR):
        print(f"note: {secrets_mod.ENV_VAR} is not set; creating the default secrets file {path}",
              file=sys.stderr)


def _new(section: str):
    def run(args) -> int:
        path = secrets_mod.secrets_path()
        expires = _expires(args)
        if expires == "never":
            expires = None
        _first_file_note(path)
        value = secrets_mod.add(path, section, args.name, expires=expires)
        kind = _kind(section)
        print(f"added {kind} {args.name!r}{_expiry_note(expires)} to {path}; the value below is shown only "
              "now (later: ollama-gate show NAME):", file=sys.stderr)
        print(value)
        return 0
    return run


def _rotate(args) -> int:
    path = secrets_mod.secrets_path()
    expires = _expires(args)
    if expires is None:
        section, value = secrets_mod.rotate(path, args.name)
    else:
        section, value = secrets_mod.rotate(path, args.name, None if expires == "never" else expires)
    print(f"rotated {args.name!r} ({section}){_expiry_note(expires)} in {path}; rerun the deploy to apply. "
          "New value:", file=sys.stderr)
    print(value)
    return 0


def _remove(args) -> int:
    path = secrets_mod.secrets_path()
    section = secrets_mod.remove(path, args.name)
    print(f"removed {args.name!r} ({section}) from {path}; rerun the deploy to apply (hosts whose "
          "auth_credentials still list it deploy it as revoked and prove it gets 401)", file=sys.stderr)
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


def _show(args) -> int:
    path = secrets_mod.secrets_path()
    section, secret, expired = secrets_mod.show(path, args.name)
    note = ""
    if secret.expires is not None:
        when = secrets_mod.expiry_text(secret.expires)
        note = f"; EXPIRED on {when}, refused by the hosts" if expired else f"; expires {when}"
    print(f"warning: the {_kind(section)} {args.name!r} is a secret: paste it into the client and "
          f"keep it out of shell history, chat and tickets{note}", file=sys.stderr)
    print(secret.reveal())
    return 0


_EXPIRES_HELP = ("when it stops being accepted: 30d, 2w (a date that many days ahead), 12h, 90m "
                 "(a UTC time), 2027-01-31, 2027-01-31T12:00:00Z")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ollama-gate", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="check settings and secrets of every host of an inventory, "
                                     "print the access matrix")
    p.add_argument("inventory")
    p.add_argument("--data", action="append", default=[], metavar="NAME=VALUE",
                   help="override data for every host, as pyinfra's --data")
    p.set_defaults(func=_check)
    for mode in auth.MODES.values():
        p = sub.add_parser(mode.new_command, help=f"add a random credential under '{mode.section}:' "
                                                   f"(auth_mode {mode.name})")
        p.add_argument("name")
        p.add_argument("--expires", help=_EXPIRES_HELP)
        p.set_defaults(func=_new(mode.section))
    p = sub.add_parser("rotate", help="replace a credential's value with a new random one")
    p.add_argument("name")
    p.add_argument("--expires", help=_EXPIRES_HELP + "; 'never' removes the expiry (default: kept)")
    p.set_defaults(func=_rotate)
    p = sub.add_parser("remove", help="delete a credential (its value is kept under retired:)")
    p.add_argument("name")
    p.set_defaults(func=_remove)
    p = sub.add_parser("models-archive", help="write a tar of the listed models (manifests and blobs) "
                                              "from an Ollama models directory, for models_local_path")
    p.add_argument("out", help="the archive to write (a .tar)")
    p.add_argument("models", nargs="+", help="model names, as in the models setting")
    p.add_argument("--from", dest="source", default=os.environ.get("OLLAMA_MODELS") or "~/.ollama/models",
                   help="the models directory (default: $OLLAMA_MODELS or ~/.ollama/models)")
    p.set_defaults(func=_models_archive)
    p = sub.add_parser("show", help="print a credential's value for pasting into a client")
    p.add_argument("name")
    p.set_defaults(func=_show)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"error: {len(e.errors)} problem(s):\n{e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
