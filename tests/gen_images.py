#!/usr/bin/python3
"""A demo image dataset: SHARDS tar.gz archives of JPEGs (smooth colour
fields with a little noise, so that neighbours mean something) and a
metadata.jsonl with a caption and a position per image.

    gen_images.py OUT --shards 4 --images 250 --side 128 --seed 1

OUT/shards/shard_NNN.tar.gz holds images/NNN_IIIII.jpg; OUT/meta/metadata.jsonl
has {"file_name", "caption", "latitude", "longitude"} per image.
"""
import argparse
import io
import json
import os
import tarfile

import numpy as np
from PIL import Image


def picture(rng, side):
    x = np.linspace(0, 1, side)
    c = rng.random(9)
    channels = [np.outer(np.sin(3 * x * c[i] + c[i + 3]), np.cos(3 * x * c[i + 6])) * 0.5 + 0.5
                for i in range(3)]
    img = np.stack(channels, axis=2) + rng.normal(0, 0.03, (side, side, 3))
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--images", type=int, default=250, help="per shard")
    ap.add_argument("--side", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(f"{a.out}/shards", exist_ok=True)
    os.makedirs(f"{a.out}/meta", exist_ok=True)
    with open(f"{a.out}/meta/metadata.jsonl", "w") as meta:
        for s in range(a.shards):
            with tarfile.open(f"{a.out}/shards/shard_{s:03d}.tar.gz", "w:gz") as t:
                for i in range(a.images):
                    buf = io.BytesIO()
                    picture(rng, a.side).save(buf, "JPEG", quality=90)
                    name = f"images/{s:03d}_{i:05d}.jpg"
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime = buf.tell(), 1700000000
                    buf.seek(0)
                    t.addfile(info, buf)
                    meta.write(json.dumps({"file_name": name, "caption": f"shard {s} image {i}",
                                           "latitude": float(rng.uniform(-60, 60)),
                                           "longitude": float(rng.uniform(-180, 180))}) + "\n")


if __name__ == "__main__":
    main()
