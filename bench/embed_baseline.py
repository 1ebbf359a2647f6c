#!/usr/bin/python3
"""The Python baseline for ferry embed's benchmark: the same rp embedding with
PIL and NumPy (Debian's python3-pil and python3-numpy).

For every JPEG entry of the tar archives given: decode (PIL), area-average
to 32x32 RGB (Image.BOX), normalise to zero mean and unit variance over the
image, then project to D dimensions with ferry's matrix (the same seeded
splitmix64 Gaussian) in NumPy, 256 images a matmul.  PROCS processes split
the archives between them, as a multiprocessing script would.

    embed_baseline.py D SEED PROCS OUT.npy ARCHIVE...
"""
import math
import multiprocessing
import sys
import tarfile

import numpy as np
from PIL import Image

SIDE = 32
BATCH = 256


def splitmix_uniform(seed, n):
    """ferry's generator: splitmix64, 53-bit uniforms in (0, 1)."""
    with np.errstate(over="ignore"):
        state = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) / 9007199254740992.0


def projection(seed, dim, inputs):
    n = dim * inputs
    u = splitmix_uniform(seed, n + n % 2).reshape(-1, 2)
    r, t = np.sqrt(-2 * np.log(u[:, 0])), 2 * math.pi * u[:, 1]
    g = np.stack([r * np.cos(t), r * np.sin(t)], axis=1).reshape(-1)[:n]
    return (g / math.sqrt(dim)).astype(np.float32).reshape(dim, inputs)


def features(data):
    img = Image.open(data).convert("RGB").resize((SIDE, SIDE), Image.BOX)
    v = np.asarray(img, dtype=np.float32).reshape(-1) / 255.0
    sd = v.std()
    return (v - v.mean()) / sd if sd > 1e-8 else np.zeros_like(v)


def embed_archives(args):
    archives, dim, seed = args
    P = projection(seed, dim, 3 * SIDE * SIDE)
    out, batch = [], []
    for path in archives:
        with tarfile.open(path) as t:
            for member in t:
                if member.isfile() and member.name.lower().endswith((".jpg", ".jpeg")):
                    batch.append(features(t.extractfile(member)))
                    if len(batch) == BATCH:
                        out.append(np.stack(batch) @ P.T)
                        batch = []
    if batch:
        out.append(np.stack(batch) @ P.T)
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


def main():
    dim, seed, procs, dest = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    archives = sys.argv[5:]
    shares = [(archives[i::procs], dim, seed) for i in range(procs)]
    if procs == 1:
        parts = [embed_archives(shares[0])]
    else:
        with multiprocessing.Pool(procs) as pool:
            parts = pool.map(embed_archives, shares)
    result = np.concatenate(parts)
    np.save(dest, result)
    print(len(result))


if __name__ == "__main__":
    main()
