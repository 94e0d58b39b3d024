#!/usr/bin/env python3
"""Regenerate the README tour's outputs: run every fenced block that starts with
`$ quasipot …` through the release binary and put its real stdout under the command.

A block whose second line is `(first lines omitted)` keeps that marker and as many trailing
lines as it had. The files the tour uses (`H.csv`, the README's `quartic.toml`) are written
into a scratch directory first, beside links to `examples/` and `benches/`. Timing columns change from run
to run, so review the result with `git diff README.md`. Usage:

    cargo build --release && python3 scripts/readme-tour.py [--dry-run]
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OMITTED = "(first lines omitted)"
# The Hessian of the README's `v0 --hessian` example (eigenvalues 3 ± √2).
H_CSV = "2,1\n1,4\n"


def toml_block(lines, name):
    """The ```toml block of the README that defines problem `name`."""
    for i, line in enumerate(lines):
        if line.strip() == "```toml":
            j = lines.index("```", i + 1)
            body = lines[i + 1:j]
            if f'name = "{name}"' in body:
                return "\n".join(body) + "\n"
    raise SystemExit(f"README has no ```toml block for {name}")


def main():
    dry = "--dry-run" in sys.argv
    path = os.path.join(ROOT, "README.md")
    lines = open(path, encoding="utf-8").read().split("\n")
    binary = os.path.join(ROOT, "target", "release", "quasipot")
    scratch = tempfile.mkdtemp(prefix="quasipot-tour-")
    with open(os.path.join(scratch, "H.csv"), "w") as f:
        f.write(H_CSV)
    with open(os.path.join(scratch, "quartic.toml"), "w") as f:
        f.write(toml_block(lines, "quartic-2d"))
    for linked in ("examples", "benches"):
        os.symlink(os.path.join(ROOT, linked), os.path.join(scratch, linked))

    out, i, changed = [], 0, 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        starts = line == "```" and i + 1 < len(lines) and lines[i + 1].startswith("$ quasipot ")
        if not starts:
            i += 1
            continue
        end = lines.index("```", i + 1)
        old = lines[i + 1:end]
        command = old[0][2:]
        args = shlex.split(command)[1:]
        print(f"running: {command}", file=sys.stderr)
        p = subprocess.run([binary, *args], cwd=scratch, capture_output=True, text=True)
        if p.returncode not in (0, 1):
            raise SystemExit(f"`{command}` failed ({p.returncode}):\n{p.stderr}")
        new = p.stdout.rstrip("\n").split("\n")
        new = [re.sub(r"\s+$", "", l) for l in new]
        if len(old) > 1 and old[1] == OMITTED:
            new = [OMITTED] + new[-(len(old) - 2):]
        block = [old[0]] + new
        changed += block != old
        out.extend(block)
        out.append("```")
        i = end + 1
    if not dry:
        open(path, "w", encoding="utf-8").write("\n".join(out))
    print(f"{changed} block(s) changed{' (dry run)' if dry else ''}", file=sys.stderr)


if __name__ == "__main__":
    main()
