#!/usr/bin/env python3
"""Run the release binary on bad inputs and faults; print one Markdown row per case.

Every case must end with exit code 2 (bad input) or 3 (interrupted, partial results kept), a
message on stderr and no panic; the script exits 1 if any case does not (`--check` prints only
the failures). Usage:

    cargo build --release && python3 scripts/bad-inputs.py [--check] [--bin PATH]
"""
import os
import subprocess
import sys
import tempfile

GOOD = """variables = ["x", "y"]
minimum = [0.0, 0.0]
[drift]
loss = "x^2/2 + 2*y^2"
[noise]
source = "matrix"
matrix = [[1.0, 0.2], [0.2, 0.5]]
[domain]
kind = "level-set"
depth = 0.5
"""


def variant(old, new):
    assert old in GOOD, old
    return GOOD.replace(old, new)


# (what, arguments, files written first: name -> text or bytes, expected exit code)
CASES = [
    # Problem files
    ("problem file that does not exist", ["v0", "{d}/missing.toml"], {}, 2),
    ("not TOML", ["v0", "{d}/p.toml"], {"p.toml": "variables = [x"}, 2),
    ("unknown top-level key", ["v0", "{d}/p.toml"], {"p.toml": GOOD + "colour = 3\n"}, 2),
    ("formula with a syntax error", ["v0", "{d}/p.toml"],
     {"p.toml": variant('"x^2/2 + 2*y^2"', '"x^2/2 + * y"')}, 2),
    ("formula with an unknown variable", ["v0", "{d}/p.toml"],
     {"p.toml": variant('"x^2/2 + 2*y^2"', '"x^2/2 + 2*z^2"')}, 2),
    ("unknown function in a formula", ["v0", "{d}/p.toml"],
     {"p.toml": variant('"x^2/2 + 2*y^2"', '"x^2/2 + frob(y)"')}, 2),
    ("minimum of the wrong length", ["v0", "{d}/p.toml"],
     {"p.toml": variant("minimum = [0.0, 0.0]", "minimum = [0.0]")}, 2),
    ("minimum that is not a stationary point", ["v0", "{d}/p.toml"],
     {"p.toml": variant("minimum = [0.0, 0.0]", "minimum = [0.3, 0.0]")}, 2),
    ("noise matrix not symmetric", ["v0", "{d}/p.toml"],
     {"p.toml": variant("[[1.0, 0.2], [0.2, 0.5]]", "[[1.0, 0.2], [0.7, 0.5]]")}, 2),
    ("noise matrix not positive definite", ["v0", "{d}/p.toml"],
     {"p.toml": variant("[[1.0, 0.2], [0.2, 0.5]]", "[[1.0, 2.0], [2.0, 0.5]]")}, 2),
    ("noise matrix of the wrong size", ["v0", "{d}/p.toml"],
     {"p.toml": variant("[[1.0, 0.2], [0.2, 0.5]]", "[[1.0]]")}, 2),
    ("NaN in the noise matrix", ["v0", "{d}/p.toml"],
     {"p.toml": variant("[[1.0, 0.2], [0.2, 0.5]]", "[[nan, 0.2], [0.2, 0.5]]")}, 2),
    ("unknown noise source", ["v0", "{d}/p.toml"],
     {"p.toml": variant('source = "matrix"', 'source = "telepathy"')}, 2),
    ("negative level-set depth", ["v0", "{d}/p.toml"],
     {"p.toml": variant("depth = 0.5", "depth = -0.5")}, 2),
    ("unknown domain kind", ["v0", "{d}/p.toml"],
     {"p.toml": variant('kind = "level-set"', 'kind = "blob"')}, 2),
    ("ball of radius 1e200 (overflow)", ["v0", "{d}/p.toml"],
     {"p.toml": variant('kind = "level-set"\ndepth = 0.5', 'kind = "ball"\nradius = 1e200')}, 2),
    ("state-dependent field not positive definite in D", ["v0", "{d}/p.toml"],
     {"p.toml": variant('source = "matrix"\nmatrix = [[1.0, 0.2], [0.2, 0.5]]',
                        'source = "field"\nfield = [["1 - 4*x", "0"], ["0", "1"]]')}, 2),
    ("drift with a pole inside D", ["v0", "{d}/p.toml", "--method", "gmam"],
     {"p.toml": variant('loss = "x^2/2 + 2*y^2"', 'field = ["-x + 0.1*y/(x - 0.5)", "-4*y"]')
      .replace('kind = "level-set"\ndepth = 0.5', 'kind = "ball"\nradius = 1.0')}, 2),
    ("loss undefined inside D", ["v0", "{d}/p.toml", "--refine-minimum"],
     {"p.toml": variant('loss = "x^2/2 + 2*y^2"', 'loss = "x^2/2 + 2*y^2 + 0.01*ln(1 - 2*x)"')
      .replace("minimum = [0.0, 0.0]", "minimum = [0.01, 0.0]")
      .replace('kind = "level-set"\ndepth = 0.5', 'kind = "ball"\nradius = 1.0')}, 2),
    # Built-in names and parameters
    ("unknown built-in problem", ["v0", "quadratic-9d"], {}, 2),
    ("--param without '='", ["v0", "maier-stein", "--param", "beta"], {}, 2),
    ("--param with a non-number", ["v0", "maier-stein", "--param", "beta=lots"], {}, 2),
    ("--param of an unknown parameter", ["v0", "maier-stein", "--param", "gamma=2"], {}, 2),
    ("--weight with a bad value", ["v0", "quadratic-2d", "--weight", "sqrt"], {}, 2),
    ("--threads 0", ["v0", "quadratic-2d", "--threads", "0"], {}, 2),
    ("global flag the subcommand ignores", ["problems", "--seed", "3"], {}, 2),
    ("unknown method", ["v0", "quadratic-2d", "--method", "magic"], {}, 2),
    # Matrices in files
    ("--hessian file missing", ["v0", "--hessian", "{d}/none.npy", "--depth", "0.5"], {}, 2),
    ("--hessian not symmetric", ["v0", "--hessian", "{d}/H.csv", "--depth", "0.5"],
     {"H.csv": "1,0.5\n0,4\n"}, 2),
    ("--hessian not positive definite", ["v0", "--hessian", "{d}/H.csv", "--depth", "0.5"],
     {"H.csv": "1,0\n0,-4\n"}, 2),
    ("--hessian ragged CSV", ["v0", "--hessian", "{d}/H.csv", "--depth", "0.5"],
     {"H.csv": "1,0\n0\n"}, 2),
    ("--hessian .npy that is not an npy file", ["v0", "--hessian", "{d}/H.npy", "--depth", "0.5"],
     {"H.npy": b"\x93NUMPY garbage"}, 2),
    ("--noise of a different size", ["v0", "--hessian", "{d}/H.csv", "--noise", "{d}/C.csv",
                                     "--depth", "0.5"],
     {"H.csv": "1,0\n0,4\n", "C.csv": "1,0,0\n0,1,0\n0,0,1\n"}, 2),
    ("--depth 0", ["v0", "--hessian", "{d}/H.csv", "--depth", "0"], {"H.csv": "1,0\n0,4\n"}, 2),
    # Engine settings
    ("field on a 1-D problem", ["field", "double-well-1d"], {}, 2),
    ("field --grid 2", ["field", "maier-stein", "--grid", "2"], {}, 2),
    ("field --grid beyond memory", ["field", "maier-stein", "--grid", "200000"], {}, 2),
    ("field --box inverted", ["field", "rotational-linear", "--box", "1,-1,-1,1"], {}, 2),
    ("field --box not covering θ*", ["field", "rotational-linear", "--box", "2,3,2,3"], {}, 2),
    ("exit --eps negative", ["exit", "double-well-1d", "--eps", "-0.5"], {}, 2),
    ("exit --eps not a number", ["exit", "double-well-1d", "--eps", "0.5,abc"], {}, 2),
    ("exit --dt negative", ["exit", "double-well-1d", "--eps", "0.5", "--dt", "-0.01"], {}, 2),
    ("exit --runs 0", ["exit", "double-well-1d", "--eps", "0.5", "--runs", "0"], {}, 2),
    ("exit --runs beyond memory", ["exit", "double-well-1d", "--eps", "0.5", "--runs", "1000000000000"],
     {}, 2),
    ("exit --shard 3/2", ["exit", "double-well-1d", "--eps", "0.5", "--shard", "3/2"], {}, 2),
    ("exit --shard auto outside Slurm", ["exit", "double-well-1d", "--eps", "0.5", "--shard",
                                         "auto"], {}, 2),
    ("exit --resume without --out", ["exit", "double-well-1d", "--eps", "0.5", "--resume"], {}, 2),
    ("exit --resume into a run of other settings",
     ["exit", "double-well-1d", "--eps", "0.4", "--runs", "20", "--resume", "--out", "{d}/run",
      "-q"], {"run/.seed": None}, 2),
    ("exit --lr with --eps", ["exit", "quadratic-2d", "--eps", "0.5", "--lr", "0.1", "--batch",
                              "2"], {}, 2),
    ("exit --method ams --replicas 1", ["exit", "double-well-1d", "--eps", "0.2", "--method",
                                        "ams", "--replicas", "1"], {}, 2),
    ("exit --method ams --replicas beyond memory",
     ["exit", "double-well-1d", "--eps", "0.2", "--method", "ams", "--replicas", "100000000000"], {}, 2),
    ("path --to of the wrong dimension", ["path", "maier-stein", "--to", "1,2,3"], {}, 2),
    ("path --points 1", ["path", "maier-stein", "--points", "1"], {}, 2),
    ("path --time negative", ["path", "quadratic-2d", "--time", "-1"], {}, 2),
    ("mfpt on a 3-D problem", ["mfpt", "quadratic-anisotropic-3d", "--eps", "0.5"], {}, 2),
    ("mfpt --grid beyond memory", ["mfpt", "double-well-1d", "--eps", "0.5", "--grid",
                                    "1000000001"], {}, 2),
    ("lemma4 --kappa below 1", ["lemma4", "quadratic-2d", "--kappa", "0.5"], {}, 2),
    ("scaling --vary unknown", ["scaling", "quadratic-2d", "--vary", "colour"], {}, 2),
    ("scaling mlp --width beyond memory", ["scaling", "mlp", "--vary", "lr", "--width", "100000"], {}, 2),
    ("scaling mlp unknown data set", ["scaling", "mlp", "--vary", "lr", "--dataset", "mnist"], {}, 2),
    ("merge of 2 of 3 shards", ["merge", "double-well-1d", "{d}/s0", "{d}/s1"],
     {"@shards": None}, 2),
    ("merge of a directory that is not a shard", ["merge", "double-well-1d", "{d}"], {}, 2),
    ("slurm without a command", ["slurm", "--shards", "2", "--out", "{d}/sl"], {}, 2),
    ("slurm --shards 0", ["slurm", "--shards", "0", "--out", "{d}/sl", "--", "exit",
                          "double-well-1d", "--eps", "0.5"], {}, 2),
    ("--out is a file", ["v0", "quadratic-2d", "--out", "{d}/file"], {"file": "x"}, 2),
]


def prepare(d, files, binary):
    for name, text in files.items():
        if name == "@shards":
            for k in range(2):
                subprocess.run([binary, "exit", "double-well-1d", "--eps", "0.5", "--runs", "30",
                                "--shard", f"{k}/3", "--out", os.path.join(d, f"s{k}"), "-q"],
                               check=True, capture_output=True)
            continue
        if name == "run/.seed":
            subprocess.run([binary, "exit", "double-well-1d", "--eps", "0.5", "--runs", "20",
                            "--out", os.path.join(d, "run"), "-q"], check=True,
                           capture_output=True)
            continue
        path = os.path.join(d, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        mode = "wb" if isinstance(text, bytes) else "w"
        with open(path, mode) as f:
            f.write(text)


def main():
    check = "--check" in sys.argv
    binary = "target/release/quasipot"
    if "--bin" in sys.argv:
        binary = sys.argv[sys.argv.index("--bin") + 1]
    failures = 0
    if not check:
        print("| # | input | exit code | message (first line) |")
        print("|---|---|---|---|")
    for i, (what, args, files, expected) in enumerate(CASES, 1):
        with tempfile.TemporaryDirectory() as d:
            prepare(d, files, binary)
            argv = [a.replace("{d}", d) for a in args]
            p = subprocess.run([binary, *argv], capture_output=True, text=True, timeout=120)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        # A first line ending in ':' (clap's "not provided:") continues on the next.
        message = " ".join(lines[:2]) if lines and lines[0].endswith(":") else (lines or [""])[0]
        message = message.replace(d, "DIR")
        ok = p.returncode == expected and message and "panicked" not in p.stderr
        failures += not ok
        if not check or not ok:
            mark = "" if ok else " **(unexpected)**"
            cell = message.replace("|", "\\|")
            print(f"| {i} | {what} | {p.returncode}{mark} | {cell} |")
    print(f"\n{len(CASES) - failures} of {len(CASES)} cases give a clear error", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
