#!/usr/bin/env python3
"""Lists the circles among src/'s top-level modules (issue 22 item 9).

An edge A -> B is any `crate::B` path (in a `use` or inline) in a file of module A (src/A.rs or
src/A/**). `super::` paths stay inside a module and are not edges. A file's test module (from
`#[cfg(test)]` followed by `mod`, to the end of the file, as this code base writes them) is left out
unless --with-tests is given: a test reaching into another module does not make the build circular. Prints every strongly connected component of more than
one module with the files that make its edges, and exits 1 when there is one (0 when there is none).

Usage: python3 scripts/module_cycles.py [--edges] [--with-tests]
"""

import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
PATH = re.compile(r"\bcrate::(\w+)")
# `use crate::{a, b::c}` names several modules at once.
GROUP = re.compile(r"\bcrate::\{([^}]*)\}", re.S)
TESTS = re.compile(r"^#\[cfg\(test\)\]\s*\n\s*(pub(\(\w+\))? )?mod ", re.M)


def top_modules():
    mods = {}
    for f in SRC.iterdir():
        if f.is_dir():
            mods[f.name] = sorted(f.rglob("*.rs"))
        elif f.suffix == ".rs" and f.stem != "main":
            mods.setdefault(f.stem, []).append(f)
    return mods


def edges(mods, with_tests):
    found = {}
    for mod, files in mods.items():
        for f in files:
            text = f.read_text()
            tests = TESTS.search(text)
            if tests and not with_tests:
                text = text[: tests.start()]
            names = set(PATH.findall(text))
            for group in GROUP.findall(text):
                names.update(re.findall(r"(?:^|,)\s*(\w+)", group))
            for name in names:
                if name in mods and name != mod:
                    found.setdefault((mod, name), set()).add(str(f.relative_to(SRC.parent)))
    return found


def components(nodes, adjacent):
    """Tarjan's strongly connected components."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in adjacent.get(v, ()):
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
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    mods = top_modules()
    found = edges(mods, "--with-tests" in sys.argv)
    adjacent = {}
    for a, b in found:
        adjacent.setdefault(a, set()).add(b)
    if "--edges" in sys.argv:
        for (a, b), files in sorted(found.items()):
            print(f"{a} -> {b}: {', '.join(sorted(files))}")
    circles = [c for c in components(mods, adjacent) if len(c) > 1]
    for comp in circles:
        print("circle: " + ", ".join(comp))
        for (a, b), files in sorted(found.items()):
            if a in comp and b in comp:
                print(f"  {a} -> {b}: {', '.join(sorted(files))}")
    if not circles:
        print("no circle among top-level modules")
    return 1 if circles else 0


if __name__ == "__main__":
    sys.exit(main())
