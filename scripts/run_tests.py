#!/usr/bin/env python3
"""Runs skiff's whole test suite and prints "N passed, N failed, N skipped".

Steps: build (meson/ninja), every gtest binary meson knows (counted per test
case, run two at a time), a clang build with -Wthread-safety as errors, the
clang-format check, and each fuzzer for a bounded time when the fuzz build
exists. A step that cannot run is counted as skipped and says why.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failures = []

    def add(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.failures += other.failures


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kw)


def step(name, ok, detail=""):
    t = Tally()
    if ok is None:
        t.skipped = 1
        print(f"SKIP  {name}: {detail}")
    elif ok:
        t.passed = 1
        print(f"PASS  {name}")
    else:
        t.failed = 1
        t.failures.append(name)
        print(f"FAIL  {name}\n{detail}")
    return t


def run_gtest(test):
    name = test["name"]
    t = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        out_json = os.path.join(tmp, "out.json")
        env = dict(os.environ)
        env.update(test.get("env") or {})
        start = time.time()
        try:
            p = subprocess.run(test["cmd"] + [f"--gtest_output=json:{out_json}"],
                               cwd=test.get("workdir") or ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace",
                               timeout=test.get("timeout") or 300)
            output, code = p.stdout, p.returncode
        except subprocess.TimeoutExpired as e:
            output = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            code = "timeout"
        elapsed = time.time() - start
        report = None
        if os.path.exists(out_json):
            try:
                with open(out_json) as f:
                    report = json.load(f)
            except ValueError:
                report = None
    lines = [f"== {name} ({elapsed:.1f}s)"]
    if report is None:
        t.failed = 1
        t.failures.append(name)
        lines.append(f"FAIL  {name}: exited {code} without a report\n{output[-4000:]}")
        return t, "\n".join(lines)
    skip_reasons = {}
    for m in re.finditer(r"Skipped\n(.*?)\n\[  SKIPPED \] (\S+)", output, re.S):
        skip_reasons[m.group(2)] = m.group(1).strip()
    for suite in report.get("testsuites", []):
        for case in suite.get("testsuite", []):
            full = f"{suite['name']}.{case['name']}"
            if case.get("failures"):
                t.failed += 1
                t.failures.append(f"{name}: {full}")
                msgs = "\n".join(f["failure"] for f in case["failures"])
                lines.append(f"FAIL  {full}\n{msgs}")
            elif case.get("result") == "SKIPPED":
                t.skipped += 1
                lines.append(f"SKIP  {full}: {skip_reasons.get(full, 'no reason given')}")
            else:
                t.passed += 1
    if code not in (0, 1) or (code == 1 and t.failed == 0):
        t.failed += 1
        t.failures.append(f"{name}: exit {code}")
        lines.append(f"FAIL  {name}: exited {code}\n{output[-4000:]}")
    return t, "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true",
                    help="skip the clang build and the format check")
    ap.add_argument("--filter", default="", help="run only tests whose name contains this")
    args = ap.parse_args()
    total = Tally()

    b = run(["ninja", "-C", BUILD])
    if b.returncode != 0:
        total.add(step("build", False, b.stdout[-6000:]))
        finish(total)
    tests = json.loads(run(["meson", "introspect", BUILD, "--tests"]).stdout)
    tests = [t for t in tests if args.filter in t["name"]]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for t, text in pool.map(run_gtest, tests):
            print(text, flush=True)
            total.add(t)

    if not args.quick and not args.filter:
        total.add(clang_build())
        total.add(format_check())
        total.add(run_fuzzers())
    finish(total)


def clang_build():
    if run(["which", "clang++"]).returncode != 0:
        return step("clang -Wthread-safety build", None, "clang++ is not installed")
    d = os.path.join(ROOT, "build-clang")
    if not os.path.exists(os.path.join(d, "build.ninja")):
        env = dict(os.environ, CXX="clang++", CC="clang")
        s = subprocess.run(["meson", "setup", d, "-Dfuzzing=true"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if s.returncode != 0:
            return step("clang -Wthread-safety build", False, s.stdout[-6000:])
    b = run(["ninja", "-C", d])
    return step("clang -Wthread-safety build", b.returncode == 0, b.stdout[-6000:])


def format_check():
    files = run(["git", "ls-files", "*.cc", "*.h"]).stdout.split()
    files = [f for f in files if os.path.exists(os.path.join(ROOT, f))]
    bad = []
    for f in files:
        if run(["clang-format", "--dry-run", "-Werror", f]).returncode != 0:
            bad.append(f)
    return step("clang-format", not bad, "differs: " + " ".join(bad))


def run_fuzzers():
    d = os.path.join(ROOT, "build-clang", "tests", "fuzz")
    t = Tally()
    if not os.path.isdir(d):
        return t
    seconds = os.environ.get("SKIFF_FUZZ_SECONDS", "20")
    for exe in sorted(os.listdir(d)):
        path = os.path.join(d, exe)
        if not (exe.startswith("fuzz_") and os.path.isfile(path)
                and os.access(path, os.X_OK)):
            continue
        with tempfile.TemporaryDirectory() as corpus:
            p = run([path, f"-max_total_time={seconds}", "-seed=1", "-rss_limit_mb=2048", corpus])
        t.add(step(f"fuzz {exe} ({seconds}s)", p.returncode == 0, p.stdout[-4000:]))
    return t


def finish(total):
    if total.failures:
        print("\nfailures:\n  " + "\n  ".join(total.failures))
    print(f"\n{total.passed} passed, {total.failed} failed, {total.skipped} skipped")
    sys.exit(1 if total.failed else 0)


if __name__ == "__main__":
    main()
