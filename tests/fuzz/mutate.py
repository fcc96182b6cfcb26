#!/usr/bin/python3
"""Writes a fixed, seeded set of damaged input files for the corrupt-input replay test.

Each mutant is one of the repository's test fixtures (or a small model the build just trained) with
one kind of damage a disk, a transfer or a hostile user could do: flipped bytes, zeroed blocks,
truncation, or an edited header field. The same seed gives the same files, byte for byte, so a
failure names a file anyone can regenerate. Nothing here is committed: the test writes the set into
the build folder. Usage:

  mutate.py --fixtures tests/fixtures --out DIR [--model M.marrow] [--seed 15] [--per-kind N]

Writes DIR/<id>.<ext> (a directory for 10x Matrix Market mutants) and DIR/manifest.tsv with one
line per mutant: name, kind (h5ad, tenx_h5, tenx_dir, marrow), source fixture, mutation.
"""
import argparse
import os
import random
import re
import shutil
import struct

KINDS = ("h5ad", "tenx_h5", "tenx_dir", "marrow")


def flip_bytes(rng, data, region=None):
    lo, hi = region or (0, len(data))
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(lo, hi)
        data[i] ^= rng.randint(1, 255)
    return f"flip{hi - lo}"


def zero_blocks(rng, data):
    near_start = rng.random() < 0.5  # metadata (superblock, root group, headers) sits near the start
    for _ in range(rng.randint(1, 3)):
        length = rng.choice((8, 16, 64, 256, 1024))
        limit = min(len(data), 4096) if near_start else len(data)
        start = rng.randrange(0, max(1, limit - 1))
        data[start:start + length] = bytes(len(data[start:start + length]))
    return "zero-start" if near_start else "zero"


def truncate(rng, data):
    cut = rng.randrange(0, len(data))
    del data[cut:]
    return f"truncate{cut}"


EXTREMES = (0, 1, 0x7F, 0xFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF,
            3_000_000_000, 10**12, 10**6, 100_000)


def edit_field(rng, data, lo=0, hi=None):
    """Overwrites an aligned 1/2/4/8-byte little-endian field with an extreme value (sizes, offsets,
    dimensions and counts in binary headers are such fields)."""
    hi = hi or len(data)
    width = rng.choice((1, 2, 4, 8))
    start = rng.randrange(lo, max(lo + 1, hi - width)) // width * width
    value = rng.choice(EXTREMES) & ((1 << (8 * width)) - 1)
    data[start:start + width] = value.to_bytes(width, "little")[: len(data[start:start + width])]
    return f"field{width}@{start}"


def hdf5_mutation(rng, data):
    """HDF5 damage, weighted towards metadata: global heap collections (GCOL: variable-length
    strings), object headers (OHDR), B-trees (TREE) and local heaps (HEAP) besides random places."""
    choice = rng.random()
    if choice < 0.35:
        marks = [m.start() for m in re.finditer(rb"GCOL|OHDR|TREE|HEAP|SNOD|BTHD|FRHP", bytes(data))]
        if marks:
            at = rng.choice(marks)
            if rng.random() < 0.5:
                return "meta-" + flip_bytes(rng, data, (at, min(len(data), at + 256)))
            return "meta-" + edit_field(rng, data, at, min(len(data), at + 256))
    if choice < 0.55:
        return flip_bytes(rng, data)
    if choice < 0.75:
        return zero_blocks(rng, data)
    if choice < 0.85:
        return truncate(rng, data)
    return edit_field(rng, data, 0, min(len(data), 4096) if rng.random() < 0.5 else len(data))


def zip_mutation(rng, data):
    """A LibTorch archive is a zip: damage the weights, the local/central headers or the end."""
    choice = rng.random()
    if choice < 0.45:
        return flip_bytes(rng, data)
    if choice < 0.6:
        return zero_blocks(rng, data)
    if choice < 0.75:
        return truncate(rng, data)
    marks = [m.start() for m in re.finditer(rb"PK\x01\x02|PK\x03\x04|PK\x05\x06", bytes(data))]
    at = rng.choice(marks) if marks else 0
    return "zip-" + edit_field(rng, data, at, min(len(data), at + 46))


TOKENS = ("0x10", "1abc", "inf", "nan", "-5", "99999999999999999999", "1e400", "", "3 4 5 6", "0", "-1",
          "1000000000000", "2.5")


def mtx_mutation(rng, text):
    """Matrix Market damage: the size line, entry tokens, the banner, duplicated or missing lines."""
    lines = text.split("\n")
    header = next(i for i, line in enumerate(lines) if not line.startswith("%"))
    choice = rng.random()
    if choice < 0.3:
        fields = lines[header].split()
        fields[rng.randrange(len(fields))] = rng.choice(TOKENS)
        lines[header] = " ".join(fields)
        return "\n".join(lines), "size-line"
    if choice < 0.55 and len(lines) > header + 2:
        i = rng.randrange(header + 1, len(lines) - 1)
        fields = lines[i].split()
        if fields:
            fields[rng.randrange(len(fields))] = rng.choice(TOKENS)
        lines[i] = " ".join(fields)
        return "\n".join(lines), "entry-token"
    if choice < 0.65:
        lines[0] = rng.choice(("%%MatrixMarket matrix coordinate integer symmetric",
                               "%%MatrixMarket matrix coordinate pattern general",
                               "%%MatrixMarket matrix array real general", "%%MatrixMarket", "garbage"))
        return "\n".join(lines), "banner"
    if choice < 0.75 and len(lines) > header + 2:
        i = rng.randrange(header + 1, len(lines) - 1)
        lines.insert(i, lines[i]) if rng.random() < 0.5 else lines.pop(i)
        return "\n".join(lines), "line-dup-or-drop"
    data = bytearray(text.encode())
    name = (flip_bytes(rng, data) if choice < 0.9 else truncate(rng, data))
    return data.decode("latin-1"), "text-" + name


def tsv_mutation(rng, text):
    lines = text.split("\n")
    choice = rng.random()
    if choice < 0.4 and len(lines) > 2:
        lines.pop(rng.randrange(len(lines) - 1))
        return "\n".join(lines), "drop-line"
    if choice < 0.6:
        return "\n".join(lines + ["extra\textra\textra"]), "extra-line"
    data = bytearray(text.encode())
    name = flip_bytes(rng, data) if choice < 0.85 else truncate(rng, data)
    return data.decode("latin-1"), "text-" + name


def write_binary(out, name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes(data))


def mutate_tenx_dir(rng, source, out, name):
    target = os.path.join(out, name)
    shutil.copytree(source, target)
    members = sorted(os.listdir(target))
    matrix = [m for m in members if m.startswith("matrix.mtx")]
    member = matrix[0] if matrix and rng.random() < 0.7 else rng.choice(members)
    path = os.path.join(target, member)
    with open(path, encoding="latin-1") as f:
        text = f.read()
    text, what = (mtx_mutation if member.startswith("matrix") else tsv_mutation)(rng, text)
    with open(path, "w", encoding="latin-1") as f:
        f.write(text)
    return f"{member}:{what}"


def sources(fixtures, model):
    h5ad = sorted(os.path.join(fixtures, f) for f in os.listdir(fixtures) if f.endswith(".h5ad"))
    out = {
        "h5ad": h5ad,
        "tenx_h5": [os.path.join(fixtures, "tenx_v3.h5")],
        "tenx_dir": [os.path.join(fixtures, "tenx_v2")],
        "marrow": [model] if model else [],
    }
    return {kind: files for kind, files in out.items() if files}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--per-kind", type=int, default=130)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    manifest = []
    for kind, files in sources(args.fixtures, args.model).items():
        for i in range(args.per_kind):
            source = files[i % len(files)]
            name = f"{kind}-{i:03d}"
            if kind == "tenx_dir":
                what = mutate_tenx_dir(rng, source, args.out, name)
            else:
                with open(source, "rb") as f:
                    data = bytearray(f.read())
                what = (zip_mutation if kind == "marrow" else hdf5_mutation)(rng, data)
                name += {"h5ad": ".h5ad", "tenx_h5": ".h5", "marrow": ".marrow"}[kind]
                write_binary(args.out, name, data)
            manifest.append((name, kind, os.path.basename(source), what))
    with open(os.path.join(args.out, "manifest.tsv"), "w") as f:
        for row in manifest:
            f.write("\t".join(row) + "\n")
    print(f"{len(manifest)} mutants in {args.out}")


if __name__ == "__main__":
    main()
