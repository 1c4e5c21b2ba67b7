#!/usr/bin/env python3
"""The layer check of ARCHITECTURE.md, over the library's sources.

Every path a module names inside the crate (`use crate::…`, `crate::…`, `super::…`,
`self::…`, a child module's name) must lead to the module's own layer or one below it, as
ci/layers.txt assigns them, and the crate's top-level modules must not import each other in
a cycle. Comments and string literals are not read (a doc link may point anywhere); the crate
root (lib.rs) declares and re-exports everything and is not checked.

    layers.py SRC TABLE              check; exit 1, naming file, line and both layers
    layers.py --self-test SRC TABLE  plant an upward import and a cycle in a copy of SRC,
                                     and fail unless the check catches both
"""

import os
import re
import shutil
import sys
import tempfile

# Comments, string and char literals: blanked (newlines kept) before anything is read.
NOISE = re.compile(
    r'//[^\n]*|/\*.*?\*/|b?r(#*)".*?"\1|b?"(?:\\.|[^"\\])*"|b?\'(?:\\.|[^\\\'\n])\'',
    re.S,
)
USE = re.compile(r"\buse\s+([^;]+);")
PATH = re.compile(r"\b(crate|super|self)((?:\s*::\s*\w+)+)")
MOD = re.compile(r"\bmod\s+(\w+)\s*([;{])")


def blank(text):
    return NOISE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def read_table(path):
    """[(prefix segments, layer, description)] from lines `LAYER MODULE DESCRIPTION`."""
    table = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            layer, module, *what = line.split(None, 2)
            table.append((module.split("::"), float(layer), " ".join(what)))
    return table


def layer_of(table, segments):
    """The table row whose module is the longest prefix of `segments`, or None."""
    best = None
    for row in table:
        prefix = row[0]
        if segments[: len(prefix)] == prefix and (best is None or len(prefix) > len(best[0])):
            best = row
    return best


def module_of(src, file):
    rel = os.path.relpath(file, src)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("lib", "mod"):
        rel = rel[:-1]
    return rel


def expand(tree):
    """`a::{b, c::{d, e as f}}` -> [['a','b'], ['a','c','d'], ['a','c','e']]."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", tree))
    depth, parts, start = 0, [], 0
    for i, ch in enumerate(tree + ","):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(tree[start:i])
            start = i + 1
    out = []
    for part in filter(None, parts):
        if "{" in part:
            head, inner = part.split("{", 1)
            head = [s for s in head.split("::") if s]
            out += [head + rest for rest in expand(inner[:-1])]
        else:
            out.append([s for s in part.split("@")[0].split("::") if s])
    return out


def inline_modules(text):
    """For each offset, the inline modules (`mod tests { … }`) it lies in: a list of
    (start, end, name) spans."""
    spans, stack, depth = [], [], 0
    pending = {m.end(): m.group(1) for m in MOD.finditer(text) if m.group(2) == "{"}
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
            if i + 1 in pending:
                stack.append((i, depth, pending[i + 1]))
        elif ch == "}":
            if stack and stack[-1][1] == depth:
                start, _, name = stack.pop()
                spans.append((start, i, name))
            depth -= 1
    return spans


def scope_at(spans, base, offset):
    inner = sorted((s for s in spans if s[0] <= offset <= s[1]), key=lambda s: s[0])
    return base + [s[2] for s in inner]


def resolve(path, scope, children, aliases):
    """An absolute module path (list of segments after `crate`), or None when the path
    leaves the crate (std, rustix, …) or starts with a name imported elsewhere."""
    head, rest = path[0], path[1:]
    if head == "crate":
        out = rest
    elif head in ("self", "super"):
        out = list(scope)
        while path and path[0] in ("self", "super"):
            if path[0] == "super":
                out = out[:-1]
            path = path[1:]
        out = out + path
    elif head in children.get(tuple(scope), ()):
        out = list(scope) + path
    else:
        return None
    if out and out[0] in aliases:
        out = aliases[out[0]] + out[1:]
    return out


def paths_in(text):
    """(offset, segments) of every crate-internal path in already-blanked `text`."""
    found, used = [], []
    for m in USE.finditer(text):
        used.append(m.span())
        for segs in expand(m.group(1)):
            if segs:
                found.append((m.start(), segs))
    for m in PATH.finditer(text):
        if not any(a <= m.start() < b for a, b in used):
            rest = [s for s in re.split(r"\s*::\s*", m.group(2)) if s]
            found.append((m.start(), [m.group(1)] + rest))
    return found


def check(src, table_file):
    table = read_table(table_file)
    files = sorted(
        os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith(".rs")
    )
    texts = {f: blank(open(f).read()) for f in files}
    modules = {f: module_of(src, f) for f in files}
    children = {}
    for f, text in texts.items():
        for m in MOD.finditer(text):
            if m.group(2) == ";":
                children.setdefault(tuple(modules[f]), set()).add(m.group(1))
    # The crate root's re-exports: `crate::Lock` is `crate::locks::lock::Lock`.
    top = {m[0] for m in modules.values() if m}
    aliases, root = {}, texts[os.path.join(src, "lib.rs")]
    for m in USE.finditer(root):
        for segs in expand(m.group(1)):
            if segs and segs[0] == "crate" and segs[-1] not in top:
                aliases[segs[-1]] = segs[1:]
    errors, edges = [], {}
    for f in files:
        base = modules[f]
        if not base:
            continue
        text = texts[f]
        spans = inline_modules(text)
        for s in spans:
            children.setdefault(tuple(scope_at(spans, base, s[0])), set()).add(s[2])
        me = layer_of(table, base)
        where = lambda off: f"{f}:{text.count(chr(10), 0, off) + 1}"
        if me is None:
            errors.append(f"{where(0)}: module {'::'.join(base)} is in no layer of {table_file}")
            continue
        for off, segs in paths_in(text):
            scope = scope_at(spans, base, off)
            target = resolve(segs, scope, children, aliases)
            if target and target[-1] == "self":
                target = target[:-1]
            if target is None or target[:1] == ["*"] or not target:
                continue
            if target[0] not in top:
                errors.append(f"{where(off)}: {'::'.join(segs)} names nothing in the layer table")
                continue
            them = layer_of(table, target)
            if them is None:
                errors.append(f"{where(off)}: {'::'.join(target)} is in no layer of {table_file}")
            elif them[1] > me[1]:
                errors.append(
                    f"{where(off)}: {'::'.join(base)} (layer {me[1]:g}, {me[2]}) imports "
                    f"{'::'.join(target)} (layer {them[1]:g}, {them[2]}), a layer above it"
                )
            if target[0] != base[0]:
                edges.setdefault(base[0], {}).setdefault(target[0], where(off))
    errors += cycles(edges)
    return errors


def cycles(edges):
    """Each import cycle among the top-level modules, once: the shortest circle through a
    module back to itself (breadth-first), with where each of its imports is."""
    found, seen = [], set()
    for start in sorted(edges):
        prev, queue = {}, [start]
        while queue and start not in prev:
            v = queue.pop(0)
            for w in sorted(edges.get(v, {})):
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
        if start not in prev:
            continue
        circle, v = [start], prev[start]
        while v != start:
            circle.insert(0, v)
            v = prev[v]
        circle.insert(0, start)
        if frozenset(circle) not in seen:
            seen.add(frozenset(circle))
            steps = [f"{a} -> {b} ({edges[a][b]})" for a, b in zip(circle, circle[1:])]
            found.append("import cycle: " + "; ".join(steps))
    return found


def self_test(src, table_file):
    """Plants an upward import and then a cycle in copies of `src`; both must be caught."""
    table = read_table(table_file)
    lowest = min(table, key=lambda r: r[1])
    highest = max(table, key=lambda r: r[1])
    same = [r for r in table if r[1] == lowest[1] and len(r[0]) == 1 and r is not lowest]

    def file_of(root, segs):
        for cand in (os.path.join(root, *segs) + ".rs", os.path.join(root, *segs, "mod.rs")):
            if os.path.exists(cand):
                return cand
        raise SystemExit(f"self-test: no file for module {'::'.join(segs)}")

    def planted(plants):
        tmp = tempfile.mkdtemp()
        copy = os.path.join(tmp, "src")
        shutil.copytree(src, copy)
        for segs, line in plants:
            with open(file_of(copy, segs), "a") as out:
                out.write(line + "\n")
        errors = check(copy, table_file)
        shutil.rmtree(tmp)
        return errors

    ok = True
    up = "use crate::" + "::".join(highest[0]) + " as _;"
    errors = planted([(lowest[0], up)])
    name = os.path.basename(file_of(src, lowest[0]))
    hit = [e for e in errors if name in e and "a layer above" in e]
    print(f"self-test: planted `{up}` in {name}: " + ("caught" if hit else "NOT CAUGHT"))
    for e in hit:
        print("  " + e)
    ok &= bool(hit)
    if same:
        a, b = lowest[0], same[0][0]
        errors = planted([(a, f"use crate::{b[0]} as _;"), (b, f"use crate::{a[0]} as _;")])
        hit = [e for e in errors if e.startswith("import cycle")]
        print(f"self-test: planted {a[0]} <-> {b[0]}: " + ("caught" if hit else "NOT CAUGHT"))
        for e in hit:
            print("  " + e)
        ok &= bool(hit)
    return ok


def main(argv):
    if argv[:1] == ["--self-test"]:
        return 0 if self_test(*argv[1:3]) else 1
    errors = check(*argv[:2])
    for e in errors:
        print(e)
    print(f"layers: {len(errors)} violation(s)" if errors else "layers: every import goes down")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
