#!/usr/bin/env python3
"""Make a dataset repo of scenes in a test hub, the way a client uploads one.

  make_fixture.py --hub URL --token TOK --repo OWNER/NAME --scenes S --files N \\
                  --sizes '16k:90%,64m:10%' --seed K [--private] [--type dataset] \\
                  [--out-manifest FILE]

Scene i is the folder scene_{i:03d}; file j of it is scene_{i:03d}/file_{j:06d}.bin.
--sizes is a mix of sizes with shares ('16k:90%,64m:10%'), or one size ('1m');
units k, m, g are binary.  Which file gets which size, and every byte, follow
from --seed alone, so a fixture is the same on every machine.

The upload goes through the protocol (preupload, LFS batch, PUT or multipart
parts, commit) in commits of at most 1,000 files.  --out-manifest writes a
JSON line per file: path, size, sha256, git blob sha1, and whether it is LFS.
"""
import argparse
import base64
import hashlib
import json
import random
import sys
import urllib.error
import urllib.request


def parse_size(text):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def parse_mix(spec):
    """'16k:90%,64m:10%' -> [(16384, 0.9), (67108864, 0.1)]."""
    mix = []
    for part in spec.split(","):
        size, _, share = part.partition(":")
        mix.append((parse_size(size), float(share.rstrip("%")) / 100 if share else 1.0))
    total = sum(s for _, s in mix)
    return [(size, share / total) for size, share in mix]


def file_sizes(count, mix, rng):
    """Exactly the shares of the mix (rounded), in a seeded order."""
    sizes = []
    for size, share in mix:
        sizes += [size] * round(count * share)
    sizes = (sizes + [mix[-1][0]] * count)[:count]
    rng.shuffle(sizes)
    return sizes


def content(path, size, seed):
    """Deterministic bytes: a seeded generator per file."""
    rng = random.Random(f"{seed}:{path}")
    return rng.randbytes(size)


class Client:
    def __init__(self, hub, token, kind, repo):
        self.hub, self.token, self.kind, self.repo = hub.rstrip("/"), token, kind, repo
        self.prefix = "" if kind == "model" else kind + "s/"

    def request(self, method, url, body=None, headers=None, auth=True):
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{method} {url.split('?')[0]}: {e.code} {e.read().decode(errors='replace')}")

    def api(self, path, payload, ctype="application/json"):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        _, _, data = self.request("POST", f"{self.hub}{path}", body, {"Content-Type": ctype})
        return json.loads(data)

    def create(self, private):
        owner, name = self.repo.split("/")
        body = json.dumps({"name": name, "organization": owner, "type": self.kind,
                           "private": private}).encode()
        req = urllib.request.Request(f"{self.hub}/api/repos/create", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=60).read()
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise SystemExit(f"create {self.repo}: {e.code} {e.read().decode(errors='replace')}")

    def upload_lfs(self, objects):
        """objects: {sha256: bytes}. Sends what the batch answer asks for."""
        answer = self.api(f"/{self.prefix}{self.repo}.git/info/lfs/objects/batch",
                          {"operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
                           "objects": [{"oid": oid, "size": len(data)} for oid, data in objects.items()]},
                          "application/vnd.git-lfs+json")
        for obj in answer["objects"]:
            upload = obj.get("actions", {}).get("upload")
            if not upload:
                continue
            data = objects[obj["oid"]]
            header = upload.get("header") or {}
            if "chunk_size" not in header:
                self.request("PUT", upload["href"], data, auth=False)
                continue
            chunk = int(header["chunk_size"])
            parts = []
            for key in sorted(k for k in header if k.isdigit()):
                n = int(key)
                _, h, _ = self.request("PUT", header[key], data[(n - 1) * chunk:n * chunk], auth=False)
                parts.append({"partNumber": n, "etag": h.get("ETag", "")})
            self.request("POST", upload["href"], json.dumps({"oid": obj["oid"], "parts": parts}).encode(),
                         {"Content-Type": "application/vnd.git-lfs+json"}, auth=False)

    def commit(self, files, message):
        """files: [(path, bytes)]; preupload decides regular or LFS."""
        modes = {}
        for i in range(0, len(files), 256):
            batch = files[i:i + 256]
            answer = self.api(f"/api/{self.kind}s/{self.repo}/preupload/main", {"files": [
                {"path": p, "size": len(d), "sample": base64.b64encode(d[:512]).decode()} for p, d in batch]})
            modes.update({f["path"]: f["uploadMode"] for f in answer["files"]})
        lfs = {hashlib.sha256(d).hexdigest(): d for p, d in files if modes[p] == "lfs"}
        oids = list(lfs)
        for i in range(0, len(oids), 256):
            self.upload_lfs({oid: lfs[oid] for oid in oids[i:i + 256]})
        lines = [{"key": "header", "value": {"summary": message}}]
        for path, data in files:
            if modes[path] == "lfs":
                lines.append({"key": "lfsFile", "value": {"path": path, "algo": "sha256",
                                                         "oid": hashlib.sha256(data).hexdigest(),
                                                         "size": len(data)}})
            else:
                lines.append({"key": "file", "value": {"path": path, "encoding": "base64",
                                                      "content": base64.b64encode(data).decode()}})
        body = "\n".join(json.dumps(line) for line in lines).encode()
        self.api(f"/api/{self.kind}s/{self.repo}/commit/main", body, "application/x-ndjson")
        return modes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hub", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--type", default="dataset", choices=["dataset", "model", "space"])
    ap.add_argument("--private", action="store_true")
    ap.add_argument("--scenes", type=int, default=3)
    ap.add_argument("--files", type=int, default=10, help="files per scene")
    ap.add_argument("--sizes", default="16k")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out-manifest")
    args = ap.parse_args()

    client = Client(args.hub, args.token, args.type, args.repo)
    client.create(args.private)
    rng = random.Random(args.seed)
    manifest = []
    for s in range(args.scenes):
        sizes = file_sizes(args.files, parse_mix(args.sizes), rng)
        files = [(f"scene_{s:03d}/file_{j:06d}.bin", size) for j, size in enumerate(sizes)]
        for i in range(0, len(files), 1000):
            batch = [(p, content(p, n, args.seed)) for p, n in files[i:i + 1000]]
            modes = client.commit(batch, f"scene_{s:03d}: files {i} to {i + len(batch) - 1}")
            for path, data in batch:
                manifest.append({"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                 "sha1": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
                                 "lfs": modes[path] == "lfs"})
    if args.out_manifest:
        with open(args.out_manifest, "w") as f:
            for entry in manifest:
                f.write(json.dumps(entry) + "\n")
    print(f"{args.repo}: {len(manifest)} files in {args.scenes} scenes, "
          f"{sum(e['size'] for e in manifest)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
