#!/usr/bin/env python3
"""Fail on a function longer than LIMIT lines in the server, tests aside.

A function's length is counted from the line of its `fn` to the line of
its closing brace.  Test code (`#[cfg(test)]` items and test-only files)
and declarations without a body (bindgen's `extern` blocks) are left out.

Usage: long-functions.py [SRC]   (SRC defaults to server/src)
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
from rust_source import blank, matching, without_tests

LIMIT = 120

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "server", "src")
src = os.path.normpath(src)


test_files = set()
for root, _, names in os.walk(src):
    for name in names:
        if not name.endswith(".rs"):
            continue
        with open(os.path.join(root, name), encoding="utf-8") as f:
            for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+(\w+)\s*;", f.read()):
                test_files.add(os.path.join(root, m.group(1) + ".rs"))
                test_files.add(os.path.join(root, m.group(1), "mod.rs"))

long = []
for root, _, names in os.walk(src):
    for name in sorted(names):
        path = os.path.join(root, name)
        if not name.endswith(".rs") or path in test_files:
            continue
        with open(path, encoding="utf-8") as f:
            code = without_tests(blank(f.read()))
        for m in re.finditer(r"\bfn\s+(\w+)", code):
            # The body, unless a `;` ends the signature first.
            i, depth = m.end(), 0
            while i < len(code):
                c = code[i]
                if c in "([<":
                    depth += 1
                elif c in ")]>" and depth:
                    depth -= 1
                elif depth == 0 and c in "{;":
                    break
                i += 1
            if i >= len(code) or code[i] == ";":
                continue
            first = code.count("\n", 0, m.start()) + 1
            last = code.count("\n", 0, matching(code, i)) + 1
            if last - first + 1 > LIMIT:
                long.append((last - first + 1, os.path.relpath(path, src), first, m.group(1)))

for n, path, line, name in sorted(long, reverse=True):
    print(f"{path}:{line}: {name} is {n} lines (at most {LIMIT} outside tests)")
if long:
    sys.exit(1)
print(f"long-functions: none over {LIMIT} lines outside tests")
