"""make mutation: would a regression in the security-critical code fail the fast suites?

Two kinds of mutants, both run against the fast suites only (unit, facts, operations,
integration with a real nginx on 127.0.0.1), one at a time (the machine has 2 cores):

1. mutmut (pinned in requirements-mutation.txt) mutates every function of the modules in
   ``MODULES`` and runs, per mutant, only the fast tests that call the mutated function
   (mutmut's own per-function test map).
2. ``hand_mutants.py``: regressions no Python mutation tool can make (the nginx template,
   the Lua module, the compose template) and module-level constants, which mutmut leaves
   alone (it mutates function bodies only). Each runs the test files of its area.

It prints the score per module, lists every survivor and checks each against
``survivors.txt`` (committed: one line per survivor saying why it is equivalent or
harmless). Exit status 1 when a module scores under ``TARGET`` or a survivor is not
explained there.

    python -m tests.mutation.run                     # everything, from scratch
    python -m tests.mutation.run --only proxy        # modules/hand mutants matching a word
    python -m tests.mutation.run --incremental       # reuse .mutation/ of the last run
    python -m tests.mutation.run --no-python         # hand mutants only (about 2 minutes)
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WORK = ROOT / ".mutation"  # git-ignored
SURVIVORS = HERE / "survivors.txt"
TARGET = 0.90
FAST_SUITES = ["tests/unit", "tests/facts", "tests/operations", "tests/integration"]

# The security-critical modules (issue #16): secrets, credentials, settings/config, the
# verification plan and judge, proxy and compose rendering, the auth modes, the curl
# config that carries credentials on stdin.
MODULES = [
    "ollama_gate/secrets_file.py",
    "ollama_gate/credentials.py",
    "ollama_gate/settings.py",
    "ollama_gate/config.py",
    "ollama_gate/checks.py",
    "ollama_gate/proxy.py",
    "ollama_gate/gateway.py",
    "ollama_gate/compose.py",
    "ollama_gate/facts/http.py",
    "ollama_gate/auth/*.py",
]
HOOKS = ".hooks"  # holds sitecustomize.py, on PYTHONPATH of mutmut and everything it starts

# Tests that run `python -m ollama_gate` see MUTANT_UNDER_TEST too. While mutmut records
# which test calls which function ("stats"), such a child would look for mutmut's config
# in its own working directory and fail; the child's calls cannot be recorded anyway, so
# it runs the original code. (While a mutant is tested, the child runs the mutant: good.)
SITECUSTOMIZE = '''\
import os
if os.environ.get("MUTANT_UNDER_TEST") in ("stats", "list_all_tests"):
    os.environ["MUTANT_UNDER_TEST"] = ""
'''

# mutmut 3.8.1 (fork mode) sends SIGXCPU to each child's PID when its wall-clock limit is
# up, even when that child ended long ago and the PID now belongs to someone else (PIDs
# wrap at 32768 here): it killed an unrelated pytest on this shared machine. mutmut runs
# through this launcher, which lets that signal reach only a live child of mutmut itself.
SAFE_LAUNCHER = '''\
import os
import signal
import sys

import mutmut.workers.timeout as timeout


def _child_of_mutmut(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except (OSError, ValueError, IndexError):
        return False


class _SafeOs:
    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def kill(pid, sig):
        if sig == signal.SIGXCPU and not _child_of_mutmut(pid):
            return
        os.kill(pid, sig)


timeout.os = _SafeOs()

from mutmut.__main__ import cli  # noqa: E402

sys.exit(cli())
'''

DETECTED = {"killed", "timeout", "caught by type check", "segfault"}


def status_of(exit_code) -> str:
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[exit_code]


def project_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


def copy_project(dest: Path) -> None:
    """The working tree as git sees it (tracked and untracked-not-ignored files)."""
    for rel in project_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    git_init(dest)


def git_init(dest: Path) -> None:
    """A repository of its own, so tests that ask git (check-ignore) ask this copy's rules."""
    if not (dest / ".git").exists():
        subprocess.run(["git", "init", "-q", str(dest)], check=True)


def sync_project(dest: Path) -> None:
    """Make ``dest`` (outside mutants/) equal the working tree, keeping mtimes of unchanged files."""
    wanted = set(project_files())
    for path in dest.rglob("*"):
        rel = path.relative_to(dest).as_posix()
        if rel.startswith(("mutants/", f"{HOOKS}/", ".git/")) or rel in ("pyproject.toml", "sitecustomize.py"):
            continue
        if path.is_file() and rel not in wanted:
            path.unlink()
    for rel in wanted - {"pyproject.toml"}:  # write_mutmut_config writes that one
        src, target = ROOT / rel, dest / rel
        if target.is_file() and target.read_bytes() == src.read_bytes():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def toml_list(values) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def write_mutmut_config(project: Path, only: list[str]) -> None:
    write_if_changed(project / "sitecustomize.py", SITECUSTOMIZE)  # copied into mutants/ (also_copy)
    (project / HOOKS).mkdir(exist_ok=True)
    write_if_changed(project / HOOKS / "sitecustomize.py", SITECUSTOMIZE)
    write_if_changed(project / HOOKS / "mutmut_safe.py", SAFE_LAUNCHER)
    pyproject = project / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text() if (ROOT / "pyproject.toml").exists() else ""
    # Everything else of the project too: tests read files beside the package (deploy.py,
    # uninstall.py, README.md, templates/ ...), and PROJECT_DIR is the mutated copy.
    also_copy = sorted(p.name for p in project.iterdir()
                       if p.name not in ("ollama_gate", "tests", "mutants", ".git", HOOKS, "pyproject.toml"))
    text += "\n[tool.mutmut]\n" + "\n".join([
        'source_paths = ["ollama_gate"]',
        f"only_mutate = {toml_list(only)}",
        f"also_copy = {toml_list(also_copy)}",
        f"pytest_add_cli_args_test_selection = {toml_list(FAST_SUITES)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]',
        # Per mutant, a CPU-time limit of 2 x 5 x (its tests' time + 3 s): enough under the
        # load of a shared 2-core machine, and a mutant that loops forever (i += 1 -> i = 1)
        # ends as "timeout" within a minute. (mutmut's wall-clock limit did not fire in fork
        # mode: such a mutant ran 13 minutes under the old 2 x 20 x (t + 10 s).)
        "timeout_multiplier = 5.0",
        "timeout_constant = 3.0",
        # --incremental keeps the verdicts of unchanged functions; survivors are asked again
        # (reset_survivors), and a fresh run (the default) recomputes everything.
        "use_git_change_detection = false",
        'on_dependency_change = "ignore"',
    ]) + "\n"
    write_if_changed(pyproject, text)  # mutmut reruns everything when pyproject.toml changes


def write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def reset_survivors(project: Path, functions=()) -> int:
    """Ask every mutant that was not detected again (tests may have been added since);
    with ``functions``, only those whose module::function contains one of these words."""
    count = 0
    for meta in (project / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        for key, code in codes.items():
            if code is not None and status_of(code) not in DETECTED and (
                    not functions or any(w in f"{meta.relative_to(project / 'mutants').as_posix()}::{function_of(key)}"
                                           for w in functions)):
                codes[key] = None
                count += 1
        meta.write_text(json.dumps(data))
    return count


# --- Results --------------------------------------------------------------------------

@dataclass
class Result:
    module: str       # ollama_gate/settings.py, or "hand: <area>"
    name: str         # mutmut's mutant name, or the hand mutant's id
    status: str
    function: str = ""
    change: str = ""  # the mutated line, as it reads in the mutant

    @property
    def key(self) -> str:
        return f"{self.module}::{self.function}" if self.function else self.module

    def explained_by(self, survivors: list[tuple[str, str, str]]) -> str | None:
        for key, change, why in survivors:
            if key == self.key and change == self.change:
                return why
        return None


def function_of(mutant_name: str) -> str:
    """ollama_gate.x.xǁClassǁmethod__mutmut_3 -> Class.method; ollama_gate.x.x_f__mutmut_1 -> f."""
    mangled = mutant_name.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]
    if mangled.startswith("xǁ"):
        return ".".join(mangled[2:].split("ǁ"))
    return mangled[2:]


def changed_line(diff: str) -> str:
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    return " / ".join(added) if added else "(removed) " + " / ".join(removed)


def python_results(project: Path) -> list[Result]:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    results = []
    cwd = os.getcwd()
    os.chdir(project)
    try:
        for meta in sorted((project / "mutants" / "ollama_gate").rglob("*.py.meta")):
            module = meta.relative_to(project / "mutants").as_posix()[:-len(".meta")]
            data = json.loads(meta.read_text())
            for name, code in sorted(data["exit_code_by_key"].items(), key=lambda kv: mutant_order(kv[0])):
                status = status_of(code)
                result = Result(module, name, status, function_of(name))
                if status not in DETECTED:
                    try:
                        result.change = changed_line(get_diff_for_mutant(name, path=Path(module)))
                    except Exception as e:  # a diff is a courtesy; the status is what counts
                        result.change = f"(no diff: {e})"
                results.append(result)
    finally:
        os.chdir(cwd)
    return results


def mutant_order(name: str):
    base, _, number = name.rpartition("__mutmut_")
    return base, int(number) if number.isdigit() else 0


def run_mutmut(project: Path, log: Path) -> int:
    env = dict(os.environ, PYTHONPATH=str(project / HOOKS), PYTHONDONTWRITEBYTECODE="1")
    env.pop("MUTANT_UNDER_TEST", None)
    with log.open("w") as out:
        return subprocess.run([sys.executable, "-m", "mutmut_safe", "run", "--max-children", "1"],
                              cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT).returncode


def run_hand_mutants(selected, log: Path, proofs: bool = False) -> list[Result]:
    """Each hand mutant on a fresh copy; with ``proofs``, against its gap test alone."""
    from tests.mutation.hand_mutants import HAND_MUTANTS

    results = []
    with tempfile.TemporaryDirectory(prefix="ollama-gate-hand-mutants-") as tmp, log.open("w") as out:
        base = Path(tmp) / "project"
        copy_project(base)
        # The unmutated copy must pass every test set used below, or "killed" proves nothing.
        wanted = {m.id for m in HAND_MUTANTS if not selected or any(w in f"{m.area} {m.id}" for w in selected)}
        union = sorted({t for m in HAND_MUTANTS if m.id in wanted for t in (m.proof if proofs else m.tests)})
        baseline = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *union], cwd=base,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        out.write(f"=== baseline (unmutated): pytest exit {baseline.returncode}\n{baseline.stdout[-3000:]}\n")
        if baseline.returncode != 0:
            print(baseline.stdout[-3000:])
            raise SystemExit(f"the unmutated copy fails its tests (pytest exit {baseline.returncode}); fix that first")
        print(f"  baseline: the unmutated copy passes {' '.join(union)}", flush=True)
        for mutant in HAND_MUTANTS:
            if selected and not any(word in f"{mutant.area} {mutant.id}" for word in selected):
                continue
            if proofs and not mutant.proof:
                continue
            tests = mutant.proof if proofs else mutant.tests
            copy = Path(tmp) / mutant.id
            shutil.copytree(base, copy)
            status = mutant.apply(copy)
            if status is None:
                cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
                started = time.monotonic()
                proc = subprocess.run(cmd, cwd=copy, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
                # 1: a test failed. 2-5 (interrupted, internal error, usage, no tests) prove nothing.
                status = "killed" if proc.returncode == 1 else "survived" if proc.returncode == 0 else \
                    f"error (pytest exit {proc.returncode})"
                out.write(f"=== {mutant.id}: {status} in {time.monotonic() - started:.1f}s\n{proc.stdout[-3000:]}\n")
            print(f"  hand {mutant.id:<44} {status}" + (f"  by {' '.join(tests)}" if proofs else ""), flush=True)
            results.append(Result(f"hand: {mutant.area}", mutant.id, status, change=mutant.id))
            shutil.rmtree(copy, ignore_errors=True)
    return results


def load_survivors() -> list[tuple[str, str, str]]:
    entries = []
    for number, line in enumerate(SURVIVORS.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or not parts[2].strip():
            raise SystemExit(f"{SURVIVORS}:{number}: want 'module::function<TAB>mutated line<TAB>why'")
        entries.append((parts[0].strip(), parts[1].strip(), parts[2].strip()))
    return entries


def report(results: list[Result], survivors) -> int:
    by_module: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        by_module[r.module][r.status] += 1
    print("\nMutation score per module (detected / all mutants):")
    print(f"  {'module':<34} {'mutants':>7} {'killed':>7} {'survived':>8} {'no test':>7} {'other':>5}  score")
    low = []
    for module in sorted(by_module):
        c = by_module[module]
        total = sum(c.values())
        detected = sum(n for s, n in c.items() if s in DETECTED)
        other = total - detected - c["survived"] - c["no tests"]
        score = detected / total if total else 1.0
        flag = "" if score >= TARGET else "  < target"
        if score < TARGET:
            low.append(module)
        print(f"  {module:<34} {total:>7} {detected:>7} {c['survived']:>8} {c['no tests']:>7} {other:>5}  "
              f"{score:6.1%}{flag}")
    total = len(results)
    detected = sum(1 for r in results if r.status in DETECTED)
    print(f"  {'all':<34} {total:>7} {detected:>7} {'':>8} {'':>7} {'':>5}  {detected / max(total, 1):6.1%}")

    unexplained = []
    alive = [r for r in results if r.status not in DETECTED]
    print(f"\nSurvivors ({len(alive)}; '?' = not explained in tests/mutation/survivors.txt):")
    for r in alive:
        why = r.explained_by(survivors)
        mark = " " if why else "?"
        if not why:
            unexplained.append(r)
        print(f"{mark} [{r.status}] {r.key}  {r.name}\n      {r.change}" + (f"\n      why: {why}" if why else ""))
    if unexplained:
        print(f"\n{len(unexplained)} survivor(s) not explained; add a test that kills them, or a line to "
              f"{SURVIVORS.relative_to(ROOT)} (module::function<TAB>mutated line<TAB>why):")
        for r in unexplained:
            print(f"{r.key}\t{r.change}\t")
    if low:
        print(f"\nUnder the {TARGET:.0%} target: {', '.join(low)}")
    return 1 if unexplained or low else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=[], help="modules / hand mutant areas containing one of these words")
    parser.add_argument("--incremental", action="store_true", help="keep .mutation/ results of functions that did not change")
    parser.add_argument("--recheck", nargs="*", default=[],
                        help="with --incremental: ask again only the survivors of functions containing these words")
    parser.add_argument("--no-python", action="store_true", help="skip mutmut")
    parser.add_argument("--no-hand", action="store_true", help="skip the hand-written mutants")
    parser.add_argument("--proofs", action="store_true",
                        help="only the hand mutants with a proof, each against that test alone (implies --no-python)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    WORK.mkdir(exist_ok=True)
    results: list[Result] = []
    survivors = load_survivors()

    if args.proofs:
        results = run_hand_mutants(args.only, WORK / "proofs.log", proofs=True)
        return 0 if all(r.status == "killed" for r in results) else 1

    if not args.no_python:
        only = [m for m in MODULES if not args.only or any(w in m for w in args.only)]
        project = WORK / "project"
        if not args.incremental and project.exists():
            shutil.rmtree(project)
        project.mkdir(exist_ok=True)
        sync_project(project)
        git_init(project)
        write_mutmut_config(project, only)
        if args.incremental and (project / "mutants").exists():
            print(f"asking {reset_survivors(project, args.recheck)} undetected mutant(s) of the last run again",
                  flush=True)
        log = WORK / "mutmut.log"
        print(f"mutmut over {', '.join(only)} (log: {log.relative_to(ROOT)})", flush=True)
        rc = run_mutmut(project, log)
        if rc != 0:
            print(log.read_text()[-4000:])
            print(f"mutmut failed (exit {rc}); see {log}")
            return 2
        results += [r for r in python_results(project) if any(fnmatch.fnmatch(r.module, m) for m in only)]
        print(f"mutmut done after {time.monotonic() - started:.0f}s", flush=True)

    if not args.no_hand:
        print("hand-written mutants (template, Lua, compose, module constants):", flush=True)
        results += run_hand_mutants(args.only, WORK / "hand.log")

    code = report(results, survivors)
    print(f"\nmake mutation took {time.monotonic() - started:.0f}s")
    return code


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
