#!/usr/bin/env python3
"""No two source files import each other (tests/run-all.sh runs this).

A file "imports" another when it names an item of the other's module by a
`crate::` or `super::` path (in a `use` or inline, braces expanded). A
module and its own child (its tests among them) do not count. Each crate is
checked on its own: the library (src/), the `mailslot` command
(src/bin/mailslot/) and the benchmark (bench/src/). Prints every pair and
exits 1 if there is one.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = [
    ("src", ["lib.rs"], ["bin", "main.rs"]),
    ("src/bin/mailslot", ["main.rs"], []),
    ("bench/src", ["main.rs"], []),
]


def modules(top, skip):
    """Module path (a tuple) -> file, for every file of one crate."""
    out = {}
    for base, dirs, files in os.walk(top):
        rel_base = os.path.relpath(base, top)
        if rel_base == ".":
            dirs[:] = [d for d in dirs if d not in skip]
        for f in files:
            if not f.endswith(".rs") or (rel_base == "." and f in skip):
                continue
            rel = os.path.normpath(os.path.join(rel_base, f))[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            out[tuple(p for p in rel if p != ".")] = os.path.join(base, f)
    return out


def without_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def expand(path):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    m = re.match(r"^([\w:]*?)\{(.*)\}$", path.strip())
    if not m:
        return [path.strip()]
    prefix, inner = m.groups()
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [prefix + q for p in parts if p.strip() for q in expand(p.strip())]


def references(text):
    """Every crate:: or super:: path named in `text`, braces expanded."""
    text = without_comments(text)
    found = []
    for m in re.finditer(r"\buse\s+((?:crate|super)(?:::[^;]*));", text, flags=re.S):
        found.extend(expand(re.sub(r"\s+", "", m.group(1))))
    found.extend(re.findall(r"\b((?:crate|super)(?:::\w+)+)", text))
    return found


def resolve(path, here, mods):
    """The module a path lands in, from the module `here`."""
    parts = [p for p in path.split("::") if p and p != "self"]
    if parts[0] == "crate":
        at = []
        parts = parts[1:]
    else:
        at = list(here)
        while parts and parts[0] == "super":
            at = at[:-1]
            parts = parts[1:]
    target = tuple(at)
    for p in parts:
        if tuple(list(target) + [p]) in mods:
            target = tuple(list(target) + [p])
        else:
            break
    return target


def main():
    pairs = []
    for top, _, skip in CRATES:
        mods = modules(os.path.join(ROOT, top), skip)
        edges = set()
        for mod, path in mods.items():
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for ref in references(text):
                target = resolve(ref, mod, mods)
                if target != mod and target in mods:
                    edges.add((mod, target))
        for a, b in sorted(edges):
            related = a[: len(b)] == b or b[: len(a)] == a
            if a < b and (b, a) in edges and not related:
                pairs.append((mods[a], mods[b]))
    for a, b in pairs:
        print(f"{os.path.relpath(a, ROOT)} and {os.path.relpath(b, ROOT)} import each other")
    if pairs:
        return 1
    print("no two files import each other")
    return 0


if __name__ == "__main__":
    sys.exit(main())
