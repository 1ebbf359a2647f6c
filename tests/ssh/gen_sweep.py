#!/usr/bin/env python3
"""Write a deterministic hyperparameter-sweep tree, what researchers copy off a
cluster after a sweep: many small text files, checkpoints of a few sizes, names
with '=' and ':' (Lightning's epoch=N.ckpt, W&B's model:vN), and optionally a
few large files.  Same arguments, same bytes, on every machine.

  gen_sweep.py OUT [--name lr_search] [--runs 8] [--ckpt-size 64K]
               [--big 0] [--big-size 16M] [--seed 1]

writes OUT/sweep_NAME/:
  sweep.yaml
  run_000 .. run_{runs-1}/
    config.json  metrics.jsonl  logs/train.log
    checkpoints/ckpt_v1.pt ckpt_v2.pt ckpt_v3.pt           (--ckpt-size each)
    checkpoints/epoch=1.ckpt epoch=2.ckpt epoch=3.ckpt     (--ckpt-size each)
    wandb/run-20261201_1200SS-ID/files/output.log config.yaml wandb-summary.json
    wandb/run-20261201_1200SS-ID/artifacts/model:v1 model:v2 model:v3
  and --big files of --big-size: big file k goes to run k % runs, named
  model.safetensors (then model-00002.safetensors, ... if a run gets several).

Every file's bytes depend only on --seed, its path and its size, so adding
runs or big files never changes the files already there.  Prints one summary
line.
"""
import argparse
import hashlib
import json
import os
import random
import sys

# Sizes as tests/gen_tree.py reads them ("64K", "16M").
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from gen_tree import size  # noqa: E402


def rng_for(seed, rel):
    digest = hashlib.sha256(f"{seed}\0{rel}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Writer:
    def __init__(self, root, seed):
        self.root, self.seed = root, seed
        self.files = 0
        self.bytes = 0

    def _open(self, rel):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.files += 1
        return open(path, "wb")

    def text(self, rel, content):
        data = content.encode()
        with self._open(rel) as f:
            f.write(data)
        self.bytes += len(data)

    def binary(self, rel, n):
        rng = rng_for(self.seed, rel)
        with self._open(rel) as f:
            left = n
            while left:
                step = min(left, 8 << 20)
                f.write(rng.randbytes(step))
                left -= step
        self.bytes += n


def run_files(w, sweep, i, args):
    rng = rng_for(args.seed, f"{sweep}/run_{i:03d}")
    run = f"{sweep}/run_{i:03d}"
    lr = round(10 ** rng.uniform(-5, -2), 8)
    bs = rng.choice([16, 32, 64, 128])
    wd = rng.choice([0.0, 0.01, 0.1])
    cfg = {"run": i, "lr": lr, "batch_size": bs, "weight_decay": wd, "epochs": 3,
           "model": "resnet50", "optimizer": "adamw", "seed": args.seed * 1000 + i}
    w.text(f"{run}/config.json", json.dumps(cfg, indent=2, sort_keys=True) + "\n")

    loss = 2.5 + rng.random()
    metrics, log = [], []
    log.append(f"[rank0] starting run {i}: lr={lr} batch_size={bs} weight_decay={wd}\n")
    for step in range(0, 600, 10):
        loss *= 0.985 + rng.random() * 0.01
        epoch = step // 200 + 1
        metrics.append(json.dumps({"step": step, "epoch": epoch, "loss": round(loss, 5),
                                   "lr": lr, "throughput": round(900 + rng.random() * 200, 1)}) + "\n")
        log.append(f"2026-12-01 12:{step // 60:02d}:{step % 60:02d} INFO step={step:5d} epoch={epoch} "
                   f"loss={loss:.5f} grad_norm={rng.random() * 3:.4f} it/s={rng.random() * 10 + 5:.2f}\n")
    log.append(f"[rank0] done: final loss {loss:.5f}\n")
    w.text(f"{run}/metrics.jsonl", "".join(metrics))
    w.text(f"{run}/logs/train.log", "".join(log))

    for v in (1, 2, 3):
        w.binary(f"{run}/checkpoints/ckpt_v{v}.pt", args.ckpt_size)
    for e in (1, 2, 3):
        w.binary(f"{run}/checkpoints/epoch={e}.ckpt", args.ckpt_size)

    ident = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
    wb = f"{run}/wandb/run-20261201_1200{i % 60:02d}-{ident}"
    w.text(f"{wb}/files/output.log", "".join(log[: len(log) // 2]))
    w.text(f"{wb}/files/config.yaml", "".join(
        f"{k}:\n  desc: null\n  value: {v}\n" for k, v in sorted(cfg.items())))
    w.text(f"{wb}/files/wandb-summary.json",
           json.dumps({"loss": round(loss, 5), "_step": 590, "_runtime": 3600 + i}, sort_keys=True) + "\n")
    for v in (1, 2, 3):
        w.binary(f"{wb}/artifacts/model:v{v}", args.ckpt_size)
    return lr, bs, wd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--name", default="lr_search")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--ckpt-size", type=size, default=size("64K"))
    ap.add_argument("--big", type=int, default=0, help="number of large files")
    ap.add_argument("--big-size", type=size, default=size("16M"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.runs < 1 or args.big < 0 or args.ckpt_size < 0 or args.big_size < 0:
        ap.error("--runs must be >= 1; sizes and --big must be >= 0")

    sweep = f"sweep_{args.name}"
    w = Writer(args.out, args.seed)
    grid = [run_files(w, sweep, i, args) for i in range(args.runs)]
    w.text(f"{sweep}/sweep.yaml",
           f"name: {args.name}\nmethod: random\nmetric:\n  name: loss\n  goal: minimize\n"
           f"runs: {args.runs}\nparameters:\n"
           f"  lr:\n    values: [{', '.join(str(g[0]) for g in grid)}]\n"
           f"  batch_size:\n    values: [{', '.join(str(g[1]) for g in grid)}]\n"
           f"  weight_decay:\n    values: [{', '.join(str(g[2]) for g in grid)}]\n")

    per_run = {}
    for k in range(args.big):
        r = k % args.runs
        per_run[r] = per_run.get(r, 0) + 1
        name = "model.safetensors" if per_run[r] == 1 else f"model-{per_run[r]:05d}.safetensors"
        w.binary(f"{sweep}/run_{r:03d}/{name}", args.big_size)

    print(f"gen_sweep: {os.path.join(args.out, sweep)}: {args.runs} runs, {w.files} files, "
          f"{w.bytes / (1 << 20):.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
