#!/usr/bin/env python3
"""Lists the translation units (.cpp under src/ and app/) that include LibTorch headers, directly or
through project headers: each costs ~13 s and ~1 GB to compile. Usage: scripts/torch_units.py [ROOT]"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
include = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.M)
roots = [os.path.join(root, "src"), os.path.join(root, "app")]


def resolve(name, here):
    for base in [os.path.dirname(here)] + roots:
        path = os.path.join(base, name)
        if os.path.isfile(path):
            return os.path.normpath(path)
    return None


memo = {}


def uses_torch(path, stack=()):
    if path in memo:
        return memo[path]
    if path in stack:
        return False
    found = False
    for name in include.findall(open(path, encoding="utf-8", errors="replace").read()):
        if name.startswith(("torch/", "ATen/", "c10/")):
            found = True
            break
        target = resolve(name, path)
        if target and uses_torch(target, stack + (path,)):
            found = True
            break
    memo[path] = found
    return found


units = []
for base in roots:
    for folder, _, files in os.walk(base):
        units += [os.path.join(folder, f) for f in files if f.endswith(".cpp")]
torch_units = sorted(os.path.relpath(u, root) for u in units if uses_torch(u))
print("\n".join(torch_units))
print(f"{len(torch_units)} of {len(units)} translation units include torch", file=sys.stderr)
