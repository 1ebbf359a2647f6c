#!/usr/bin/env python3
"""Write a deterministic dataset of scenes: many small files and a few large
ones per scene, the same bytes for the same seed on every machine.

  gen_tree.py OUT --scenes 3 --small 200 --small-size 16K --large 1 --large-size 96M --seed 1
"""
import argparse
import os
import random


def size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B").rstrip("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def write(path, n, rng):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = n
        while left:
            step = min(left, 8 << 20)
            f.write(rng.randbytes(step))
            left -= step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--scenes", type=int, default=3)
    ap.add_argument("--small", type=int, default=100, help="small files per scene")
    ap.add_argument("--small-size", type=size, default=size("16K"))
    ap.add_argument("--large", type=int, default=1, help="large files per scene")
    ap.add_argument("--large-size", type=size, default=size("80M"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    for s in range(args.scenes):
        scene = os.path.join(args.out, f"scene_{s:03d}")
        for i in range(args.small):
            # Spread small files over a few sub-folders, as real scenes do.
            path = os.path.join(scene, f"frames/{i % 10:02d}/frame_{i:06d}.bin")
            write(path, args.small_size + rng.randrange(0, 64), rng)
        for i in range(args.large):
            write(os.path.join(scene, f"video_{i}.bin"), args.large_size + rng.randrange(0, 4096), rng)
        write(os.path.join(scene, "meta.json"), 200, rng)
    print(f"wrote {args.scenes} scenes under {args.out}")


if __name__ == "__main__":
    main()
