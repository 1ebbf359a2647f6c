#!/usr/bin/env python3
"""The test hub's request log, every origin merged and sorted by time.

  hublog.py DIR                          print the merged log, one JSON per line
  hublog.py DIR --count origin=hub bucket=api    print how many entries match
  hublog.py DIR --assert-no-auth-at cdn,storage  exit 1 if any request there carried
                                                 an Authorization header
"""
import argparse
import json
import os
import sys


def entries(workdir):
    out = []
    for name in ("requests.jsonl", "cdn.jsonl"):
        path = os.path.join(workdir, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                if line.strip():
                    e = json.loads(line)
                    if e.get("range") == "":
                        e["range"] = None
                    out.append(e)
    return sorted(out, key=lambda e: e["t"])


def matches(entry, conditions):
    return all(str(entry.get(k)).lower() == v.lower() for k, v in conditions)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workdir")
    ap.add_argument("--count", nargs="+", metavar="KEY=VALUE")
    ap.add_argument("--assert-no-auth-at", metavar="ORIGINS")
    args = ap.parse_args()
    log = entries(args.workdir)
    if args.count:
        conditions = [c.split("=", 1) for c in args.count]
        print(sum(1 for e in log if matches(e, conditions)))
    elif args.assert_no_auth_at:
        origins = set(args.assert_no_auth_at.split(","))
        leaks = [e for e in log if e["origin"] in origins and e["auth"]]
        for e in leaks:
            print(f"Authorization header reached {e['origin']}: {e['method']} {e['path']}", file=sys.stderr)
        return 1 if leaks else 0
    else:
        for e in log:
            print(json.dumps(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
