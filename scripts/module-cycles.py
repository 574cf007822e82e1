#!/usr/bin/env python3
"""List the dependencies between the server's modules and fail on a cycle.

A module depends on another when its code (not its comments, not its
`#[cfg(test)]` items or test-only files) names a path into it: `crate::a::b`, `super::b`,
`self::b`, or in a `mod.rs` a child's name.  Edges are drawn between
siblings at every level: between the top-level modules (`abi`, `backend`,
`cli`, ...), and inside a directory between its files.  A directory's
`mod.rs` counts as one more sibling, named `mod`: what it defines for its
children and its own use of them are its edges; what it re-exports counts
as the child's.

Checked: the top-level modules and the files of every directory.  Exit
status 1 when some of them import each other, directly or round a longer
loop; each such group is printed with the edges that close it.

Usage: module-cycles.py [-v] [SRC]   (SRC defaults to server/src)
  -v  print every edge with the files that make it
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
from rust_source import blank, without_tests

verbose = "-v" in sys.argv[1:]
args = [a for a in sys.argv[1:] if a != "-v"]
src = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "server", "src")
src = os.path.normpath(src)


def module_path(path):
    """server/src/net/conn.rs -> ("net", "conn"); net/mod.rs -> ("net",)."""
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel == ["main"]:
        return ()
    return tuple(rel)


files = {}
for root, _, names in os.walk(src):
    for n in names:
        if n.endswith(".rs"):
            p = os.path.join(root, n)
            files[module_path(p)] = p
modules = set(files)


def strip(text):
    """Code without comments, string and char literals, and `#[cfg(test)]` items."""
    return without_tests(blank(text))


IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def expand(code, pos):
    """Paths of the path tree starting at code[pos] (after a `::`): `a::b`,
    `{a, b::c}`; each as a list of segments (identifiers only)."""
    code_len = len(code)
    while pos < code_len and code[pos].isspace():
        pos += 1
    if pos < code_len and code[pos] == "{":
        depth, j, start, parts = 1, pos + 1, pos + 1, []
        while j < code_len and depth:
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
            elif code[j] == "," and depth == 1:
                parts.append(start)
                start = j + 1
            j += 1
        parts.append(start)
        result = []
        for p in parts:
            result.extend(expand(code, p))
        return result
    m = re.match(IDENT, code[pos:])
    if not m:
        return [[]]
    seg = m.group(0)
    after = pos + len(seg)
    m2 = re.match(r"\s*::\s*", code[after:])
    if m2:
        return [[seg] + rest for rest in expand(code, after + len(m2.group(0)))]
    return [[seg]]


def public_names(code):
    return set(re.findall(r"\bpub(?:\([a-z]+\))?\s+(?:unsafe\s+)?(?:extern\s+\"C\"\s+)?"
                          r"(?:fn|struct|enum|const|static|type|trait|union)\s+(" + IDENT + ")", code))


def reexports(me, code):
    """What a `mod.rs` re-exports from its children: name -> child module."""
    names = {}
    for m in re.finditer(r"\bpub(?:\([a-z]+\))?\s+use\s+", code):
        for segs in expand(code, m.end()):
            if len(segs) >= 1 and me + (segs[0],) in modules:
                child = me + (segs[0],)
                if len(segs) == 1:  # `pub use child::*` expands to nothing
                    for n in public_names(stripped[child]):
                        names[n] = child
                else:
                    names[segs[-1]] = child
    # Leave the re-exports out of the mod.rs's own dependencies.
    return names, re.sub(r"\bpub(?:\([a-z]+\))?\s+use\s+[^;]*;", "", code)


def resolve(segments):
    """The module an absolute path names: its longest module prefix, or the
    child a `mod.rs` re-exports the next name from."""
    best = ()
    for k in range(1, len(segments) + 1):
        if tuple(segments[:k]) in modules:
            best = tuple(segments[:k])
        elif tuple(segments[:k - 1]) == best and segments[k - 1] in exported.get(best, {}):
            return exported[best][segments[k - 1]]
        else:
            break
    return best


def targets(me, is_mod_rs, code):
    """Modules that the code of module `me` names."""
    found = set()
    for m in re.finditer(r"(?<![A-Za-z0-9_:])(crate|super|self)\s*::\s*", code):
        kind = m.group(1)
        for segs in expand(code, m.end()):
            if kind == "crate":
                base = ()
            elif kind == "self":
                base = me
            else:
                base = me[:-1]
                while segs and segs[0] == "super":
                    base, segs = base[:-1], segs[1:]
            found.add(resolve(list(base) + segs) or base)
    # A bare child name in a mod.rs or main.rs (`conn::Conn`, `use conn::X`).
    children = {p[-1] for p in modules if len(p) == len(me) + 1 and p[:len(me)] == me}
    for m in re.finditer(r"(?<![A-Za-z0-9_:])(" + IDENT + r")\s*::\s*", code):
        if m.group(1) in children and m.group(1) not in ("crate", "super", "self"):
            for segs in expand(code, m.start()):
                found.add(resolve(list(me) + segs))
    found.discard(me)
    return found


# Test-only files (`#[cfg(test)] mod tests;`) are left out like test code.
test_only = set()
for me, path in files.items():
    with open(path, encoding="utf-8") as f:
        for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+(" + IDENT + r")\s*;", f.read()):
            test_only.add(me + (m.group(1),))
for t in test_only:
    files.pop(t, None)
    modules.discard(t)

stripped = {}
for me, path in files.items():
    with open(path, encoding="utf-8") as f:
        stripped[me] = strip(f.read())
exported = {}
for me, path in files.items():
    if path.endswith("mod.rs") or me == ():
        exported[me], stripped[me] = reexports(me, stripped[me])

edges = {}  # (level, from, to) -> set of files
for me, path in files.items():
    code = stripped[me]
    is_mod_rs = path.endswith("mod.rs") or me == ()
    for t in targets(me, is_mod_rs, code):
        k = 0
        while k < len(me) and k < len(t) and me[k] == t[k]:
            k += 1
        level = "/".join(me[:k]) or "crate"
        a = me[k] if k < len(me) else "mod"
        b = t[k] if k < len(t) else "mod"
        if me == () or a == b:
            continue  # main.rs is the root that uses everything
        edges.setdefault((level, a, b), set()).add(os.path.relpath(path, src))


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


levels = sorted({lv for lv, _, _ in edges})
bad = 0
for lv in levels:
    graph = {}
    for (l, a, b) in edges:
        if l == lv:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    if verbose:
        print(f"[{lv}]")
        for (l, a, b), fs in sorted(edges.items()):
            if l == lv:
                print(f"  {a} -> {b}   ({', '.join(sorted(fs))})")
    for comp in cycles(graph):
        bad += 1
        print(f"cycle in {lv}: {' '.join(comp)}")
        for (l, a, b), fs in sorted(edges.items()):
            if l == lv and a in comp and b in comp:
                print(f"  {a} -> {b}   ({', '.join(sorted(fs))})")
if bad:
    sys.exit(1)
print(f"module-cycles: {len(edges)} edges between modules, no cycle")
