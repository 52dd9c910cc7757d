#!/usr/bin/env python3
"""Check the library's layering (docs/design.md, "Layers").

Each folder is a layer; a file may include headers of its own layer and of
the layers before it in LAYERS, never of a later one.  Within the library no
two modules may include each other, directly or through others: a module is
a source file and its header (track/tracker.c with track/hs_tracker.h).
Prints one line per finding and exits 1 if there is any."""
import os
import re
import sys

LAYERS = ["os", "common", "allocator", "track", "place", "observe", "shim", "tools"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(path):
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    if stem.startswith("hs_"):
        stem = stem[3:]
    return folder + "/" + stem


def main(root):
    findings = []
    graph = {}
    for layer in LAYERS:
        folder = os.path.join(root, layer)
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".c", ".h", ".def")):
                continue
            rel = layer + "/" + name
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                text = f.read()
            for target in INCLUDE.findall(text):
                resolved = os.path.normpath(os.path.join(layer, target))
                target_layer = resolved.split("/")[0]
                if target_layer not in LAYERS:
                    findings.append(f"{rel}: includes {target}, which is outside the library's layers")
                    continue
                if LAYERS.index(target_layer) > LAYERS.index(layer):
                    findings.append(f"{rel}: includes {target}: {layer}/ may not include {target_layer}/, a later layer")
                a, b = module_of(rel), module_of(resolved)
                if a != b:
                    graph.setdefault(a, set()).add(b)
    # Cycles between modules (depth-first search, each cycle reported once).
    state, stack, seen_cycles = {}, [], set()

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    findings.append("include cycle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    for line in findings:
        print("lint-layers: " + line)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")))
