#!/usr/bin/env python3
"""SIGKILL at random moments during `quasipot exit --out DIR` and its `--resume`s.

Each trial starts the run (the first) or a resume of it, kills it with SIGKILL after a
uniformly random delay, and checks that every complete row of DIR/trajectories.csv that was on
disk before the trial is still there, byte for byte, and in place. After the last trial one
resume must complete the run, with per-trajectory rows and statistics identical to a run that
was never stopped (checked too, before starting over, whenever every trajectory is on disk). Prints one line per trial and exits non-zero on the first violation.

    cargo build --release && scripts/kill-trials.py [--trials 20] [--seed 1] [--bin PATH]

Long validation (about a minute per 20 trials on 2 cores), not part of CI.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

RUN = ["exit", "double-well-1d", "--eps", "0.6", "--dt", "1e-2", "--runs", "300000",
       "--threads", "2", "-q", "--json"]


def complete_prefix(path):
    """The file up to and including its last newline (b'' when absent)."""
    try:
        with open(path, "rb") as f:
            b = f.read()
    except FileNotFoundError:
        return b""
    return b[: b.rfind(b"\n") + 1]


def complete_and_compare(binary, whole, cut):
    """Resume `cut` to completion; whether it equals the uninterrupted run `whole`."""
    r = subprocess.run([binary, *RUN, "--out", cut, "--resume"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        print("resume to completion failed:", r.stderr.decode(), file=sys.stderr)
        return False
    res = lambda d: json.load(open(os.path.join(d, "result.json")))
    rows = lambda d: open(os.path.join(d, "exit_trajectories.csv"), "rb").read()
    a_, b_ = res(whole), res(cut)
    same = (a_["levels"][0]["stats"] == b_["levels"][0]["stats"] and rows(whole) == rows(cut)
            and b_["termination"] == "completed")
    print(f"  resume to completion: termination {b_['termination']}; statistics and "
          f"per-trajectory rows {'identical to' if same else 'DIFFERENT FROM'} the uninterrupted run")
    return same


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target",
                                                   "release", "quasipot"))
    ap.add_argument("--max-delay", type=float, default=None,
                    help="longest delay before the kill, s (default: a third of the whole run's time, so that most resumes are cut)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="quasipot-kill-")
    whole, cut = os.path.join(work, "whole"), os.path.join(work, "cut")
    t0 = time.monotonic()
    subprocess.run([a.bin, *RUN, "--out", whole], check=True, stdout=subprocess.DEVNULL)
    full = time.monotonic() - t0
    max_delay = a.max_delay or full / 3
    print(f"uninterrupted run: {full:.2f} s; killing at U(0, {max_delay:.2f}) s")
    stream = os.path.join(cut, "trajectories.csv")
    full_rows = open(os.path.join(whole, "trajectories.csv"), "rb").read().count(b"\n")
    failures = 0
    complete_runs = 0
    for t in range(a.trials):
        before = complete_prefix(stream)
        args = [a.bin, *RUN, "--out", cut] + (["--resume"] if os.path.exists(cut) else [])
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        delay = rng.uniform(0, max_delay)
        try:
            p.wait(timeout=delay)
            state = f"finished (exit {p.returncode}) before the kill"
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            state = "killed"
        after = open(stream, "rb").read() if os.path.exists(stream) else b""
        ok = after.startswith(before)
        nb, na = before.count(b"\n"), after.count(b"\n")
        print(f"trial {t + 1:2}: {state} after {delay:.3f} s; rows before {nb}, after {na}: "
              f"{'ok' if ok else 'LOST OR REWROTE ROWS'}")
        if not ok:
            failures += 1
        if state.startswith("finished"):
            if p.returncode != 0:
                print(p.stderr.read().decode(), file=sys.stderr)
                failures += 1
        # Once every trajectory is on disk (a kill then hits the summary), check that the
        # directory completes to the right result, and start over so that later kills hit the
        # simulation again.
        if na == full_rows:
            complete_runs += 1
            if complete_runs == 2 or state.startswith("finished"):
                if not complete_and_compare(a.bin, whole, cut):
                    failures += 1
                shutil.rmtree(cut)
                complete_runs = 0
        else:
            complete_runs = 0
    if os.path.exists(cut) and not complete_and_compare(a.bin, whole, cut):
        failures += 1
    shutil.rmtree(work)
    print(f"{a.trials} trials: {'no violation' if failures == 0 else f'{failures} violations'}")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
