#!/usr/bin/env python3
"""Fails when the module include graph of sidecar/ (sidecar/ctl aside) has a cycle.

A module is foo.c with foo.h; an edge goes from a module to bar when either of its files has
`#include "bar.h"` and bar is a module of the tree. Prints every cycle (strongly connected
component of more than one module) with its members and its internal edges, and exits 1.

Usage: include_graph.py [SOURCE_ROOT]   (default: the current directory)
"""
import collections
import os
import re
import sys


def modules(root):
    mods = {}
    for d, dirs, fs in os.walk(os.path.join(root, 'sidecar')):
        dirs[:] = sorted(x for x in dirs if not (os.path.relpath(os.path.join(d, x), root) == os.path.join('sidecar', 'ctl')))
        for f in sorted(fs):
            if f.endswith(('.c', '.h')):
                mods.setdefault(f.rsplit('.', 1)[0], []).append(os.path.join(d, f))
    return mods


def graph(mods):
    g = collections.defaultdict(set)
    for m, paths in mods.items():
        for p in paths:
            with open(p, encoding='utf-8') as fh:
                for inc in re.findall(r'#include "([A-Za-z0-9_]+)\.h"', fh.read()):
                    if inc != m and inc in mods:
                        g[m].add(inc)
    return g


def sccs(nodes, g):
    """Tarjan's algorithm, iterative (no recursion limit to worry about)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    mods = modules(root)
    g = graph(mods)
    cycles = [c for c in sccs(mods.keys(), g) if len(c) > 1]
    if not cycles:
        print('include graph: %d modules, acyclic' % len(mods))
        return 0
    for c in sorted(cycles):
        members = set(c)
        print('cycle of %d modules: %s' % (len(c), ', '.join(c)))
        for m in c:
            edges = sorted(g[m] & members)
            print('  %s -> %s' % (m, ', '.join(edges)))
    return 1


if __name__ == '__main__':
    sys.exit(main())
