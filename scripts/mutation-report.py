"""The kill ratio of the last mutmut run, and where each mutant that was not killed sits.

`make mutation` runs mutmut over the pure rules and call flow ([tool.mutmut] in pyproject.toml),
then this script: it reads mutmut's results (mutants/**/*.py.meta), prints the counts, the kill
ratio and every mutant that was not killed as `path:line` with the line before and after the
mutation, and exits 1 when the ratio is below --min (percent). docs/mutation.md explains each
survivor.

Killed means a test failed (or the mutant ran into its time limit, or a type checker caught it);
a mutant that survived, had no test reaching it, or was never run counts against the ratio.

    python scripts/mutation-report.py [--min 90] [--markdown]
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MUTANTS = Path("mutants")

# mutmut 3's exit codes (mutmut/stats.py): anything else is "suspicious".
_STATUS = {
    1: "killed", 3: "killed",
    36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
    37: "caught by type check",
    0: "survived",
    5: "no tests", 33: "no tests",
    34: "skipped",
    2: "interrupted",
    -9: "segfault", -11: "segfault",
}
_DETECTED = {"killed", "timeout", "caught by type check"}


@dataclass(frozen=True)
class Mutant:
    key: str          # callrec_ari.rules.causes.x_cause_for_caller__mutmut_4
    source: Path      # callrec_ari/rules/causes.py
    status: str


def status_of(exit_code: int | None) -> str:
    if exit_code is None:
        return "not checked"
    return _STATUS.get(exit_code, "suspicious")


def load() -> list[Mutant]:
    mutants = []
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        source = meta.relative_to(MUTANTS).with_suffix("")  # drops ".meta"
        data = json.loads(meta.read_text(encoding="utf-8"))
        for key, code in data.get("exit_code_by_key", {}).items():
            mutants.append(Mutant(key, source, status_of(code)))
    return mutants


def _def_lines(source: Path) -> dict[str, int]:
    """mutmut's mangled function name (x_name, xǁClassǁname) -> line of its `def` in the source."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    found: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[f"x_{node.name}"] = node.lineno
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"xǁ{node.name}ǁ{item.name}"] = item.lineno
    return found


def where(mutant: Mutant) -> tuple[int, str, str]:
    """(line in the source, the original line, the mutated line) of a mutant."""
    name = mutant.key.rsplit(".", 1)[1]                      # x_cause_for_caller__mutmut_4
    function = name.rsplit("__mutmut_", 1)[0]                 # x_cause_for_caller
    spans = json.loads((MUTANTS / f"{mutant.source}.spans").read_text(encoding="utf-8"))["spans"]
    lines = (MUTANTS / mutant.source).read_text(encoding="utf-8").splitlines()

    def text(span_name: str) -> list[str]:
        start, end = spans[span_name]
        return lines[start - 1:end]

    original = text(f"{function}__mutmut_orig")
    mutated = [line.replace(name, f"{function}__mutmut_orig") for line in text(name)]
    def_line = _def_lines(mutant.source).get(function, 0)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=original, b=mutated, autojunk=False).get_opcodes():
        if tag != "equal":
            before = " / ".join(x.strip() for x in original[i1:i2])
            after = " / ".join(x.strip() for x in mutated[j1:j2])
            return def_line + i1, before, after
    return def_line, "", ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=float, default=90.0, help="the lowest kill ratio (percent) that passes")
    parser.add_argument("--markdown", action="store_true", help="list the survivors as a Markdown table")
    parser.add_argument("--survivors", type=Path, metavar="FILE",
                        help="write the list of mutants not killed to FILE instead of printing it")
    args = parser.parse_args()

    mutants = load()
    if not mutants:
        print("no mutmut results under mutants/: run `make mutation` (or `mutmut run`) first")
        return 1
    counts = Counter(m.status for m in mutants)
    counted = len(mutants) - counts["skipped"]
    detected = sum(counts[s] for s in _DETECTED)
    ratio = 100.0 * detected / counted if counted else 0.0

    left = sorted((m for m in mutants if m.status not in _DETECTED | {"skipped"}),
                  key=lambda m: (str(m.source), where(m)[0], m.key))
    listing: list[str] = []
    if args.markdown:
        listing += ["| where | status | mutation |", "| --- | --- | --- |"]
    for m in left:
        line, before, after = where(m)
        if args.markdown:
            listing.append(f"| `{m.source}:{line}` | {m.status} | `{before}` → `{after}` |")
        else:
            listing += [f"{m.source}:{line}: {m.status}: {m.key.rsplit('.', 1)[1]}",
                        f"    - {before}", f"    + {after}"]
    if args.survivors:
        args.survivors.write_text("".join(f"{x}\n" for x in listing), encoding="utf-8")
        print(f"{len(left)} mutants not killed: listed in {args.survivors}")
    else:
        print("\n".join(listing))
        print()

    changed = sorted({str(m.source) for m in mutants
                      if m.source.stat().st_mtime > (MUTANTS / f"{m.source}.meta").stat().st_mtime})
    if changed:
        print("changed since the run (lines may be off): " + ", ".join(changed))
    summary = ", ".join(f"{n} {status}" for status, n in counts.most_common())
    print(f"mutants: {summary} ({len(mutants)} in all)")
    print(f"kill ratio: {detected}/{counted} = {ratio:.1f} % (the floor is {args.min:g} %)")
    if counts["not checked"]:
        print("some mutants were never run: the run was cut short")
        return 1
    return 0 if ratio >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
