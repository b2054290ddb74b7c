"""Pull before / after: did the spec-language rewrite (issue 15) slow the AmoCRM and Bitrix24 pulls?

``python -m benchmarks.pull_before_after [--before REV] [--after REV] [--records N] [--repeats K]``

The "before" commit (default: the last commit on main before the merge of ``specread``, which
brought the declarative paginators and catalogs) is checked out into a temporary git worktree and
run by the same interpreter and venv, with ``PYTHONPATH=<worktree>/src`` so its ``crmsync`` is
imported instead of this checkout's; nothing is installed. The "after" side is this checkout's
``src`` (or ``--after REV``, checked out the same way). Both sides pull the same fake (this
checkout's ``crmsync fake-crm``, limits off, unpaced client) into a fresh project made and connected
by their own code, one whole initial pull of the contacts per run. Runs alternate ABBA so that
neither side always goes first; each is a fresh process (:mod:`benchmarks.child`). The table gives
median wall and CPU seconds of each side and the after ÷ before ratios; on a shared machine read
the CPU ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import WEBHOOK, FakeProcess

ROOT = Path(__file__).resolve().parents[1]
SPEC_LANGUAGE_MERGE = "Merge branch 'specread'"  # the spec-language rewrite's first merge into main
CRMS = ("amocrm", "bitrix24")


def default_before(repo: Path = ROOT) -> str:
    """The first parent of the merge that brought the spec language: main just before it."""
    out = _git(repo, "log", "--first-parent", "--format=%H", f"--grep={SPEC_LANGUAGE_MERGE}", "-n", "1").strip()
    if not out:
        raise SystemExit(f"no commit whose message has {SPEC_LANGUAGE_MERGE!r} in this repository; pass --before REV")
    return _git(repo, "rev-parse", f"{out}^1").strip()


# -- the steps, run in a child process whose crmsync is one side's --------------------------------
def prepare(project: str, crm: str, url: str) -> dict[str, Any]:
    """Scaffold ``project`` and connect it to the fake, with the side's own code (not measured)."""
    import crmsync
    from crmsync.connections.connect import ConnectOptions, connect
    from crmsync.scaffold import init_project

    init_project(project, force=True)
    from crmsync.project import Project

    if crm == "amocrm":
        opts = ConnectOptions(crm=crm, name=crm, base_url=url, long_lived_token="demo-token")
    else:
        opts = ConnectOptions(crm=crm, name=crm, webhook_url=url + WEBHOOK + "/")
    connect(Project.at(project), opts)
    return {"crmsync": crmsync.__file__}


def pull(project: str, crm: str) -> dict[str, Any]:
    """One initial pull of the contacts, unpaced; returns how many canonical rows it stored."""
    import crmsync
    from benchmarks.common import store_count
    from benchmarks.steps import crmsync_pull
    from crmsync.project import Project

    result = crmsync_pull(project, crm, paced=False)
    rows = store_count(Project.at(project), "SELECT count(*) FROM canonical.contacts")
    return {**result, "rows": rows, "crmsync": crmsync.__file__}


# -- the harness -----------------------------------------------------------------------------------
def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _side_child(src: Path, target: str, **kwargs: Any) -> dict[str, Any]:
    """:func:`benchmarks.child.run_child` with ``src`` ahead of the installed crmsync on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.child", target, json.dumps(kwargs)],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{target} ({src}) failed:\n{proc.stderr[-4000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    loaded = Path(report["result"]["crmsync"]).resolve()
    if not loaded.is_relative_to(src.resolve()):  # the whole comparison is void if both ran the same code
        raise RuntimeError(f"{target} imported crmsync from {loaded}, not from {src}")
    return report


def _compile(src: Path) -> None:
    import compileall

    compileall.compile_dir(src / "crmsync", quiet=1)  # as an installed package has it (see __main__)


def run(*, before: str | None = None, after: str | None = None, records: int = 10_000, repeats: int = 3,
        crms: tuple[str, ...] = CRMS) -> dict[str, Any]:
    before = before or default_before()
    out: dict[str, Any] = {"scenario": f"pull before/after the spec language ({records:,} contacts, limits off)",
                           "before": _git(ROOT, "rev-parse", "--short", before).strip(),
                           "after": _git(ROOT, "rev-parse", "--short", after).strip() if after else
                           "this checkout (" + _git(ROOT, "rev-parse", "--short", "HEAD").strip() + " + working tree)",
                           "load_average_start": [round(x, 2) for x in os.getloadavg()], "rows": [], "runs": []}
    with tempfile.TemporaryDirectory(prefix="crmsync-before-after-") as tmp:
        trees: dict[str, Path] = {}
        try:
            for side, rev in (("before", before), ("after", after)):
                if rev is None:
                    trees[side] = ROOT / "src"
                    continue
                tree = Path(tmp) / side
                _git(ROOT, "worktree", "add", "--detach", str(tree), rev)
                trees[side] = tree / "src"
            for src in trees.values():
                _compile(src)
            for crm in crms:
                out["rows"] += _one_crm(crm, trees, records, repeats, Path(tmp), out["runs"])
        finally:
            for src in trees.values():
                if src != ROOT / "src":
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(src.parent)],
                                   capture_output=True)
    out["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def _one_crm(crm: str, trees: dict[str, Path], records: int, repeats: int, tmp: Path,
             log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    walls: dict[str, list[float]] = {"before": [], "after": []}
    cpus: dict[str, list[float]] = {"before": [], "after": []}
    with FakeProcess(crm, records) as fake:
        for i in range(repeats):
            for side in (("before", "after") if i % 2 == 0 else ("after", "before")):
                project = tmp / f"{crm}-{side}-{i}"
                _side_child(trees[side], "benchmarks.pull_before_after:prepare", project=str(project), crm=crm,
                            url=fake.url)
                report = _side_child(trees[side], "benchmarks.pull_before_after:pull", project=str(project),
                                     crm=crm)
                rows = report["result"]["rows"]
                if rows != records:
                    raise RuntimeError(f"{crm} {side}: {rows} contacts stored, the fake holds {records}")
                walls[side].append(report["seconds"])
                cpus[side].append(report["cpu_seconds"])
                log.append({"crm": crm, "side": side, "repeat": i + 1, "seconds": round(report["seconds"], 2),
                            "cpu_seconds": report["cpu_seconds"], "requests": report["result"]["requests"],
                            "load_1m": round(os.getloadavg()[0], 2)})
                print(f"  {crm} {side} #{i + 1}: {report['seconds']:.2f} s wall, {report['cpu_seconds']:.2f} s CPU, "
                      f"{report['result']['requests']} requests", file=sys.stderr, flush=True)
                shutil.rmtree(project, ignore_errors=True)
    med = {side: (statistics.median(walls[side]), statistics.median(cpus[side])) for side in walls}
    return [{"crm": crm, "records": records, "repeats": repeats,
             "before_wall_s": round(med["before"][0], 2), "after_wall_s": round(med["after"][0], 2),
             "wall_after_over_before": round(med["after"][0] / med["before"][0], 3),
             "before_cpu_s": round(med["before"][1], 2), "after_cpu_s": round(med["after"][1], 2),
             "cpu_after_over_before": round(med["after"][1] / med["before"][1], 3)}]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pull_before_after", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", help="the 'before' commit (default: main just before the specread merge)")
    p.add_argument("--after", help="the 'after' commit (default: this checkout's src, as it is)")
    p.add_argument("--records", type=int, default=10_000, help="contacts in the fake (default %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="pulls per side and CRM (default %(default)s)")
    p.add_argument("--crm", action="append", choices=CRMS, help="only this CRM (repeatable; default both)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/pull_before_after.json"))
    return p


def main(argv: list[str] | None = None) -> None:
    from benchmarks import report

    args = _parser().parse_args(argv)
    start = time.perf_counter()
    result = run(before=args.before, after=args.after, records=args.records, repeats=args.repeats,
                 crms=tuple(args.crm or CRMS))
    result["scenario_seconds"] = round(time.perf_counter() - start, 1)
    print(report.render({k: v for k, v in result.items() if k != "runs"}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
