#!/usr/bin/env python3
"""ferry's test hub: a local server that speaks the Hugging Face Hub protocol.

    testhub.py serve --workdir DIR [--config FILE.json]

Three origins on free ports of 127.0.0.1:
  hub      this process: the API, /resolve/, the LFS batch call, multipart
           completion, and /_control/ for tests
  cdn      a real nginx serving LFS objects with Range support; every request
           is checked by the hub (auth_request) for a valid, unexpired
           signature and for injected faults
  storage  this process on another port: presigned PUTs and multipart parts
When ready, DIR/urls.json holds {"hub", "cdn", "storage", "pid"} and the same
line goes to stdout.  SIGTERM or SIGINT stops nginx and exits 0.  Every
request of every origin is logged to DIR/requests.jsonl (hub and storage
here, cdn by nginx into DIR/cdn.jsonl; hublog.py merges them).
See tests/hub/README.md for the config keys and the control endpoints.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hubstore import (KINDS, HubError, Store, directory_entry, file_entry, lfs_pointer,  # noqa: E402
                      tree_entries)

DEFAULTS = {
    "tokens": {"hf_test_alice": "alice", "hf_test_bob": "bob"},
    "page_size": 1000,
    "page_size_expand": 50,
    "lfs_threshold": 10 * 1024 * 1024,
    "multipart_chunk_size": 64 * 1024 * 1024,
    "multipart_threshold": 64 * 1024 * 1024,
    "cdn_url_ttl": 3600,
    "rate": {"api": {"quota": 100000, "window": 300},
             "resolvers": {"quota": 100000, "window": 300},
             "commit_per_hour": 100000},
    "faults": {},
    "seed": 1,
}

FAULT_KEYS = {"error_rate": 0.0, "error_codes": [500, 502, 503], "reset_rate": 0.0, "flip_rate": 0.0,
              "latency_ms": 0, "cdn_limit_rate": 0, "cdn_expire_now": False, "lose_commit_response": 0,
              "cdn_reset_rate": 0.0, "cdn_flip_rate": 0.0, "cdn_latency_ms": 0, "storage_latency_ms": 0,
              "storage_refuse_rate": 0.0, "foreign_links": False, "stall_rate": 0.0, "stall_ms": 0}
# Hostile answers: {"tree": TEXT, "revision": TEXT, "paths-info": TEXT} answers that API call of
# any repo with 200 and TEXT as the body, as a broken or malicious Hub would.
FAULT_KEYS["hostile_answers"] = {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    """State shared by the handlers: store, config, limiter, faults, log."""

    def __init__(self, workdir, config):
        self.workdir = workdir
        self.config = config
        self.store = Store(os.path.join(workdir, "data"))
        self.faults = dict(FAULT_KEYS, **config.get("faults", {}))
        self.random = random.Random(config.get("seed", 1))
        self.secret = os.urandom(16).hex()
        self.lock = threading.Lock()
        self.log_file = open(os.path.join(workdir, "requests.jsonl"), "a", buffering=1)
        self.windows = {}           # (who, bucket) -> [window start, count]
        self.counters = {"requests": {}, "status": {}, "429": {}, "auth_at": {}}
        self.urls = {}
        self.nginx = None

    # --- signatures for CDN and storage URLs -------------------------------
    def sign(self, path, expires):
        msg = f"{path}:{expires}".encode()
        return hmac.new(self.secret.encode(), msg, hashlib.sha256).hexdigest()[:32]

    def signed_url(self, origin, path, ttl):
        expires = int(time.time() + ttl)
        return f"{self.urls[origin]}{path}?exp={expires}&sig={self.sign(path, expires)}"

    def check_signature(self, path, query):
        try:
            expires = int(query.get("exp", ["0"])[0])
        except ValueError:
            return "malformed"
        if not hmac.compare_digest(query.get("sig", [""])[0], self.sign(path, expires)):
            return "bad signature"
        if self.faults.get("cdn_expire_now") or time.time() > expires:
            return "expired"
        return None

    # --- rate limits ------------------------------------------------------
    def quota(self, bucket):
        rate = self.config["rate"]
        if bucket == "commit":
            # "commit": {"quota", "window"} shortens the hourly window for tests.
            spec = rate.get("commit") or {"quota": rate.get("commit_per_hour", 100000), "window": 3600}
            return spec["quota"], spec["window"]
        spec = rate.get(bucket, {"quota": 100000, "window": 300})
        return spec["quota"], spec["window"]

    def take(self, who, bucket):
        """Count a call; returns (allowed, remaining, seconds to reset)."""
        quota, window = self.quota(bucket)
        now = time.time()
        with self.lock:
            start, count = self.windows.get((who, bucket), (now - now % window, 0))
            if now >= start + window:
                start, count = now - now % window, 0
            allowed = count < quota
            if allowed:
                count += 1
            self.windows[(who, bucket)] = (start, count)
        return allowed, max(quota - count, 0), max(int(start + window - now) + 1, 1)

    # --- log and counters ---------------------------------------------------
    def record(self, entry):
        with self.lock:
            self.log_file.write(json.dumps(entry) + "\n")
            c = self.counters
            key = f"{entry['origin']}:{entry['bucket']}"
            c["requests"][key] = c["requests"].get(key, 0) + 1
            c["status"][str(entry["status"])] = c["status"].get(str(entry["status"]), 0) + 1
            if entry["status"] == 429:
                c["429"][entry["bucket"]] = c["429"].get(entry["bucket"], 0) + 1
            if entry["auth"]:
                c["auth_at"][entry["origin"]] = c["auth_at"].get(entry["origin"], 0) + 1

    def chance(self, key):
        rate = float(self.faults.get(key, 0) or 0)
        with self.lock:
            return rate > 0 and self.random.random() < rate

    # --- nginx for the CDN ---------------------------------------------------
    def write_nginx_conf(self):
        limit = self.faults.get("cdn_limit_rate") or 0
        hub_port = urllib.parse.urlparse(self.urls["hub"]).port
        cdn_port = urllib.parse.urlparse(self.urls["cdn"]).port
        nginx_dir = os.path.join(self.workdir, "nginx")
        os.makedirs(os.path.join(nginx_dir, "tmp"), exist_ok=True)
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""{user}worker_processes 2;
daemon off;
pid {nginx_dir}/nginx.pid;
error_log {nginx_dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {nginx_dir}/tmp/body;
    proxy_temp_path {nginx_dir}/tmp/proxy;
    fastcgi_temp_path {nginx_dir}/tmp/fastcgi;
    uwsgi_temp_path {nginx_dir}/tmp/uwsgi;
    scgi_temp_path {nginx_dir}/tmp/scgi;
    types {{ }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    map $http_authorization $has_auth {{ "" false; default true; }}
    log_format cdnjson escape=json '{{"t":$msec,"origin":"cdn","method":"$request_method",'
        '"path":"$uri","bucket":"cdn","status":$status,"bytes":$body_bytes_sent,'
        '"auth":$has_auth,"range":"$http_range"}}';
    server {{
        listen 127.0.0.1:{cdn_port};
        access_log {self.workdir}/cdn.jsonl cdnjson;
        location /lfs/ {{
            auth_request /_check;
            limit_rate {limit};
            root {self.store.root};
        }}
        # While CDN body faults are on, the hub hands out /lfs-faulty/ URLs: the
        # same objects, streamed by the hub through nginx so that it can cut a
        # body short or flip a byte.
        location /lfs-faulty/ {{
            auth_request /_check;
            limit_rate {limit};
            proxy_pass http://127.0.0.1:{hub_port}/_cdn_body/;
            proxy_buffering off;
            proxy_http_version 1.1;
            proxy_set_header Authorization "";
            proxy_set_header Range $http_range;
        }}
        location = /_check {{
            internal;
            proxy_pass http://127.0.0.1:{hub_port}/_cdn_check$request_uri;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Authorization "";
            proxy_set_header X-Had-Auth $has_auth;
        }}
    }}
}}
"""
        path = os.path.join(nginx_dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return path

    def start_nginx(self):
        conf = self.write_nginx_conf()
        prefix = os.path.join(self.workdir, "nginx")
        self.nginx = subprocess.Popen(["nginx", "-p", prefix, "-c", conf],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = urllib.parse.urlparse(self.urls["cdn"]).port
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                return
            except OSError:
                if self.nginx.poll() is not None:
                    raise SystemExit(f"nginx failed to start: see {prefix}/error.log")
                time.sleep(0.02)
        raise SystemExit("nginx did not open its port")

    def reload_nginx(self):
        self.write_nginx_conf()
        if self.nginx:
            self.nginx.send_signal(signal.SIGHUP)

    def stop(self):
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.nginx.kill()


class Reply(Exception):
    """Answer now with this status, headers and body."""

    def __init__(self, status, body=b"", headers=None, content_type="application/json"):
        super().__init__(status)
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = headers or {}
        self.content_type = content_type


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: Hub = None
    origin = "hub"

    def log_message(self, fmt, *args):
        pass

    # Every method goes through one path: parse, route, answer, log.
    def do_GET(self):
        self.handle_any()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def handle_any(self):
        self.bucket = "other"
        self.sent = 0
        self.status = 0
        self.extra = {}
        parsed = urllib.parse.urlsplit(self.path)
        self.raw_path = parsed.path
        self.query = urllib.parse.parse_qs(parsed.query)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        try:
            self.route()
        except Reply as r:
            self.answer(r.status, r.body, r.headers, r.content_type)
        except HubError as e:
            self.error(e.status, e.code, e.message)
        except ConnectionError:
            self.close_connection = True
        finally:
            # Control calls are not logged; multipart completions are protocol.
            if self.status and (not self.raw_path.startswith("/_") or self.raw_path.startswith("/_lfs/")):
                self.hub.record({"t": time.time(), "origin": self.origin, "method": self.command,
                                 "path": self.raw_path, "bucket": self.bucket, "status": self.status,
                                 "bytes": self.sent, "auth": "Authorization" in self.headers,
                                 "range": self.headers.get("Range")})

    # --- answering ------------------------------------------------------------
    def answer(self, status, body=b"", headers=None, content_type="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.status = status
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        for k, v in self.extra.items():
            self.send_header(k, v)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD" or not body:
            return
        # Control answers are never damaged: tests must be able to switch faults off.
        if self.raw_path.startswith("/_"):
            self.wfile.write(body)
            self.sent = len(body)
            return
        # Only file bodies: a flipped byte in API JSON is a malformed answer,
        # which hostile_answers plays deterministically.
        if "/resolve/" in self.raw_path and self.hub.chance("flip_rate"):
            i = self.hub.random.randrange(len(body))
            body = body[:i] + bytes([body[i] ^ 0xFF]) + body[i + 1:]
        if self.hub.chance("reset_rate"):
            self.wfile.write(body[: len(body) // 2])
            self.sent = len(body) // 2
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)
        self.sent = len(body)

    def error(self, status, code, message, headers=None):
        h = {"X-Error-Code": code, "X-Error-Message": message}
        h.update(headers or {})
        self.answer(status, {"error": message}, h)

    # --- auth, limits, faults -----------------------------------------------
    def user(self):
        """The caller's user name, None when anonymous; 401 for a bad token."""
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        token = auth[7:].strip() if auth.startswith("Bearer ") else ""
        user = self.hub.config["tokens"].get(token)
        if not user:
            raise HubError(401, "Unauthorized", "Invalid credentials in Authorization header")
        return user

    def limit(self, bucket):
        """Count the call in its bucket; 429 over quota.  Headers go on every answer."""
        self.bucket = bucket
        who = self.headers.get("Authorization") or self.client_address[0]
        counted = "api" if bucket == "commit" else bucket
        allowed, remaining, reset = self.hub.take(who, counted)
        quota, window = self.hub.quota(counted)
        self.extra["RateLimit"] = f'"{counted}";r={remaining};t={reset}'
        self.extra["RateLimit-Policy"] = f'"fixed window";"{counted}";q={quota};w={window}'
        if allowed and bucket == "commit":
            allowed, _, reset = self.hub.take(who, "commit")
            if not allowed:
                raise Reply(429, {"error": "You have exceeded our hourly quotas for action: commit"},
                            {"Retry-After": str(reset)})
        if not allowed:
            raise Reply(429, {"error": "Too many requests"}, {"Retry-After": str(reset)})
        self.inject_faults()

    def inject_faults(self, latency_key="latency_ms"):
        latency = self.hub.faults.get(latency_key) or 0
        if latency:
            time.sleep(latency / 1000.0)
        if self.hub.chance("stall_rate"):
            time.sleep((self.hub.faults.get("stall_ms") or 0) / 1000.0)
        if self.hub.chance("error_rate"):
            code = self.hub.random.choice(self.hub.faults.get("error_codes") or [500])
            raise Reply(code, {"error": "injected fault"})

    def repo(self, kind, repo_id, write=False):
        user = self.user()
        repo = self.hub.store.load_repo(kind, repo_id)
        if repo is None or (repo["private"] and user is None):
            if user is None:
                raise HubError(401, "RepoNotFound", "Repository not found (or you need to log in)")
            raise HubError(404, "RepoNotFound", f"Repository {repo_id} not found")
        if write and user is None:
            raise HubError(401, "Unauthorized", "You must be authenticated to write")
        return repo

    # --- routing --------------------------------------------------------------
    def route(self):
        p = self.raw_path
        if self.origin == "storage" and not self.foreign(p):
            return self.storage()
        if p.startswith("/_control/"):
            return self.control(p[len("/_control/"):])
        if p.startswith("/_cdn_check/"):
            return self.cdn_check(p[len("/_cdn_check"):])
        if p.startswith("/_cdn_body/"):
            return self.cdn_body(p[len("/_cdn_body/"):])
        if p.startswith("/_lfs/complete/"):
            return self.complete_multipart(p.rsplit("/", 1)[1])
        if p.startswith("/_lfs/verify/"):
            return self.verify_lfs(p.rsplit("/", 1)[1])
        if p == "/api/whoami-v2":
            self.limit("api")
            user = self.user()
            if not user:
                raise HubError(401, "Unauthorized", "Invalid credentials in Authorization header")
            raise Reply(200, {"type": "user", "name": user, "orgs": [],
                              "auth": {"type": "access_token", "accessToken": {"role": "write"}}})
        if p == "/api/repos/create" and self.command == "POST":
            return self.create_repo()
        m = re.match(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/([a-z-]+)(?:/(.*))?$", p)
        if m:
            kind = [k for k, v in KINDS.items() if v == m.group(1)][0]
            return self.api(kind, m.group(2), m.group(3), m.group(4) or "")
        m = re.match(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+?)(\.git/info/lfs/objects/batch|/resolve/|/raw/)(.*)$", p)
        if m:
            kind = {"datasets": "dataset", "spaces": "space", None: "model"}[m.group(1)]
            if m.group(3).startswith(".git"):
                return self.lfs_batch(kind, m.group(2))
            return self.resolve(kind, m.group(2), m.group(4), raw=m.group(3) == "/raw/")
        self.limit("pages")
        raise HubError(404, "NotFound", f"no route for {p}")

    def foreign(self, path):
        """With foreign_links, the storage origin also answers tree pages and
        LFS verify calls: the hub names it in Link headers and verify actions,
        as a hostile or misconfigured hub could, and logs who sent a token."""
        return bool(self.hub.faults.get("foreign_links")) and (
            path.startswith("/api/") or path.startswith("/_lfs/verify/"))

    def verify_lfs(self, oid):
        self.bucket = "verify"
        req = json.loads(self.body or b"{}")
        if req.get("oid") != oid or not self.hub.store.has_lfs(oid):
            raise HubError(404, "NotFound", f"no LFS object {oid}")
        raise Reply(200, {"success": True})

    @staticmethod
    def split_rev(rest):
        """'{rev}[/{path}]' with either encoding: the revision is one segment
        (percent-encoded by Python, so refs%2Fpr%2F1 arrives whole)."""
        rev, _, path = rest.partition("/")
        return urllib.parse.unquote(rev), urllib.parse.unquote(path).strip("/")

    def api(self, kind, repo_id, verb, rest):
        if verb == "commit":
            self.limit("commit")
        else:
            self.limit("api")
        write = verb in ("preupload", "commit")
        repo = self.repo(kind, repo_id, write=write)
        rev, path = self.split_rev(rest)
        hostile = (self.hub.faults.get("hostile_answers") or {}).get(verb)
        if hostile is not None:
            raise Reply(200, hostile.encode("utf-8", "surrogatepass"))
        if verb == "revision":
            return self.revision(kind, repo, rev)
        if verb == "tree":
            return self.tree(kind, repo_id, repo, rev, path, rest)
        if verb == "paths-info":
            return self.paths_info(repo, rev)
        if verb == "preupload":
            return self.preupload(repo, rev)
        if verb == "commit":
            return self.commit(kind, repo_id, repo, rev)
        raise HubError(404, "NotFound", f"unknown API {verb}")

    # --- repos and listing ------------------------------------------------------
    def create_repo(self):
        self.limit("api")
        user = self.user()
        if not user:
            raise HubError(401, "Unauthorized", "You must be authenticated to create a repo")
        req = json.loads(self.body or b"{}")
        kind = req.get("type", "model")
        if kind not in KINDS:
            raise HubError(400, "BadRequest", f"unknown repo type {kind}")
        repo_id = f"{req.get('organization') or user}/{req['name']}"
        private = req.get("private", req.get("visibility") == "private")
        self.hub.store.create_repo(kind, repo_id, private)
        prefix = "" if kind == "model" else KINDS[kind] + "/"
        raise Reply(200, {"url": f"{self.hub.urls['hub']}/{prefix}{repo_id}", "name": repo_id,
                          "id": repo_id})

    def revision(self, kind, repo, rev):
        sha = self.hub.store.resolve(repo, rev)
        tree = self.hub.store.tree(sha)
        raise Reply(200, {"_id": repo["id"], "id": repo["id"], "sha": sha, "private": repo["private"],
                          "gated": False, "disabled": False, "downloads": 0, "likes": 0,
                          "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                          "siblings": [{"rfilename": p} for p in sorted(tree)[:1000]]})

    def tree(self, kind, repo_id, repo, rev, path, rest):
        sha = self.hub.store.resolve(repo, rev)
        tree = self.hub.store.tree(sha)
        recursive = self.query.get("recursive", ["false"])[0] in ("true", "True", "1")
        expand = self.query.get("expand", ["false"])[0] in ("true", "True", "1")
        entries = tree_entries(tree, path, recursive)
        if path and not entries:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {rev}")
        size = self.hub.config["page_size_expand" if expand else "page_size"]
        start = int(base64.urlsafe_b64decode(self.query["cursor"][0]).decode()) if "cursor" in self.query else 0
        page = entries[start:start + size]
        headers = {}
        if start + size < len(entries):
            cursor = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            query = urllib.parse.urlencode({"recursive": str(recursive).lower(),
                                            "expand": str(expand).lower(), "cursor": cursor})
            origin = self.hub.urls["storage" if self.hub.faults.get("foreign_links") else "hub"]
            next_url = f"{origin}/api/{KINDS[kind]}/{repo_id}/tree/{rest}?{query}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        if expand:
            for e in page:
                e["lastCommit"] = {"id": sha, "title": "", "date": "2026-01-01T00:00:00.000Z"}
        raise Reply(200, page, headers)

    def paths_info(self, repo, rev):
        sha = self.hub.store.resolve(repo, rev)
        tree = self.hub.store.tree(sha)
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            req = json.loads(self.body or b"{}")
            paths, expand = req.get("paths", []), bool(req.get("expand"))
        else:
            form = urllib.parse.parse_qs(self.body.decode())
            paths, expand = form.get("paths", []), form.get("expand", ["false"])[0] == "true"
        if len(paths) > 1000:
            raise HubError(400, "BadRequest", "at most 1000 paths")
        out = []
        for p in paths:
            p = p.strip("/")
            if p in tree:
                out.append(file_entry(p, tree[p]))
            elif any(k.startswith(p + "/") for k in tree):
                below = [f"{k} {m['oid']}" for k, m in tree.items() if k.startswith(p + "/")]
                out.append(directory_entry(p, below))
            else:
                continue
            if expand:
                out[-1]["lastCommit"] = {"id": sha, "title": "", "date": "2026-01-01T00:00:00.000Z"}
        raise Reply(200, out)

    # --- downloads ----------------------------------------------------------
    def resolve(self, kind, repo_id, rest, raw):
        self.limit("resolvers")
        repo = self.repo(kind, repo_id)
        rev, path = self.split_rev(rest)
        sha = self.hub.store.resolve(repo, rev)
        meta = self.hub.store.tree(sha).get(path)
        if meta is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {rev}")
        headers = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if "lfs" in meta and not raw:
            oid = meta["lfs"]["oid"]
            faulty = self.hub.faults.get("cdn_reset_rate") or self.hub.faults.get("cdn_flip_rate")
            where = f"/lfs-faulty/{oid}" if faulty else f"/lfs/{oid}"
            headers.update({"Location": self.hub.signed_url("cdn", where, self.hub.config["cdn_url_ttl"]),
                            "X-Linked-Etag": f'"{oid}"', "X-Linked-Size": str(meta["size"]),
                            "ETag": f'"{meta["oid"]}"'})
            raise Reply(302, b"", headers, content_type=None)
        data = lfs_pointer(meta["lfs"]["oid"], meta["size"]) if "lfs" in meta else \
            self.hub.store.read_blob(meta["oid"])
        headers["ETag"] = f'"{meta["oid"]}"'
        self.send_range(data, headers)

    def send_range(self, data, headers):
        m = re.match(r"^bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
        if m and not data:
            # No range of an empty file is satisfiable; the JS client still
            # wants the size from Content-Range, so say "*/0" with the 200.
            headers["Content-Range"] = "bytes */0"
        if not m or not data:
            raise Reply(200, data, headers, content_type="application/octet-stream")
        first = int(m.group(1)) if m.group(1) else max(len(data) - int(m.group(2)), 0)
        last = int(m.group(2)) if m.group(1) and m.group(2) else len(data) - 1
        if first >= len(data):
            raise Reply(416, b"", dict(headers, **{"Content-Range": f"bytes */{len(data)}"}), None)
        last = min(last, len(data) - 1)
        headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
        raise Reply(206, data[first:last + 1], headers, content_type="application/octet-stream")

    def cdn_check(self, path):
        """nginx asks before serving an LFS object: signature, expiry, faults.
        The original request's path and query arrive as ours."""
        if self.hub.check_signature(path, self.query):
            raise Reply(403, b"", content_type=None)
        self.inject_faults("cdn_latency_ms")
        raise Reply(200, b"", content_type=None)

    def cdn_body(self, oid):
        """Serve an LFS object for nginx's /lfs-faulty/, with Range, cutting the
        body short (cdn_reset_rate) or flipping one byte (cdn_flip_rate)."""
        path = self.hub.store.lfs_path(oid)
        if not re.fullmatch(r"[0-9a-f]{64}", oid) or not os.path.exists(path):
            raise Reply(404, b"", content_type=None)
        size = os.path.getsize(path)
        first, last, status = 0, size - 1, 200
        m = re.match(r"^bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
        if m and size:
            first = int(m.group(1)) if m.group(1) else max(size - int(m.group(2)), 0)
            last = min(int(m.group(2)), size - 1) if m.group(1) and m.group(2) else size - 1
            if first > last:
                raise Reply(416, b"", {"Content-Range": f"bytes */{size}"}, None)
            status = 206
        length = last - first + 1 if size else 0
        cut = self.hub.random.randrange(length) if length and self.hub.chance("cdn_reset_rate") else -1
        flip = self.hub.random.randrange(length) if length and self.hub.chance("cdn_flip_rate") else -1
        self.status = status
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(first)
            done = 0
            while done < length:
                block = bytearray(f.read(min(1 << 20, length - done)))
                if 0 <= flip - done < len(block):
                    block[flip - done] ^= 0xFF
                if 0 <= cut - done < len(block):
                    self.wfile.write(block[:cut - done])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(block)
                done += len(block)

    # --- uploads --------------------------------------------------------------
    def preupload(self, repo, rev):
        sha = self.hub.store.resolve(repo, rev)
        tree = self.hub.store.tree(sha)
        req = json.loads(self.body or b"{}")
        files = req.get("files", [])
        if len(files) > 256:
            raise HubError(400, "BadRequest", "at most 256 files per preupload call")
        out = []
        for f in files:
            sample = base64.b64decode(f.get("sample", ""))
            size = int(f.get("size", 0))
            lfs = size > 0 and (size >= self.hub.config["lfs_threshold"] or b"\0" in sample)
            entry = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            meta = tree.get(f["path"])
            if meta:
                entry["oid"] = meta["lfs"]["oid"] if "lfs" in meta else meta["oid"]
            out.append(entry)
        raise Reply(200, {"files": out, "commitOid": sha})

    def lfs_batch(self, kind, repo_id):
        self.limit("api")
        self.repo(kind, repo_id, write=True)
        req = json.loads(self.body or b"{}")
        objects = req.get("objects", [])
        if len(objects) > 256:
            raise HubError(400, "BadRequest", "at most 256 objects per batch")
        cfg = self.hub.config
        out = []
        for obj in objects:
            oid, size = obj["oid"], int(obj["size"])
            entry = {"oid": oid, "size": size, "authenticated": True}
            if not self.hub.store.has_lfs(oid):
                if size > cfg["multipart_threshold"]:
                    chunk = cfg["multipart_chunk_size"]
                    parts = (size + chunk - 1) // chunk
                    header = {"chunk_size": str(chunk)}
                    for n in range(1, parts + 1):
                        header[f"{n:05d}"] = self.hub.signed_url("storage", f"/part/{oid}/{n}", 3600)
                    entry["actions"] = {"upload": {
                        "href": self.hub.signed_url("hub", f"/_lfs/complete/{oid}", 3600), "header": header}}
                else:
                    entry["actions"] = {"upload": {"href": self.hub.signed_url("storage", f"/put/{oid}", 3600)}}
                if self.hub.faults.get("foreign_links"):
                    entry["actions"]["verify"] = {"href": f"{self.hub.urls['storage']}/_lfs/verify/{oid}"}
            out.append(entry)
        raise Reply(200, {"transfer": "basic", "objects": out}, content_type="application/vnd.git-lfs+json")

    def store_object(self, oid, parts):
        """Concatenate parts into the LFS store if their sha256 is oid."""
        digest = hashlib.sha256()
        tmp = os.path.join(self.hub.store.root, "uploads", f"{oid}.{threading.get_ident()}")
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while True:
                        block = f.read(1 << 20)
                        if not block:
                            break
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != oid:
            os.unlink(tmp)
            raise HubError(400, "ChecksumMismatch", f"sha256 of the upload is {digest.hexdigest()}, not {oid}")
        os.replace(tmp, self.hub.store.lfs_path(oid))

    def complete_multipart(self, oid):
        self.bucket = "completion"
        if self.hub.check_signature(self.raw_path, self.query):
            raise HubError(403, "Forbidden", "bad or expired completion URL")
        req = json.loads(self.body or b"{}")
        updir = os.path.join(self.hub.store.root, "uploads", oid)
        parts = sorted(req.get("parts", []), key=lambda p: p["partNumber"])
        paths = [os.path.join(updir, str(p["partNumber"])) for p in parts]
        for p, path in zip(parts, paths):
            if not os.path.exists(path) or open(path + ".etag").read() != p.get("etag", "").strip('"'):
                raise HubError(400, "BadPart", f"part {p['partNumber']} missing or etag mismatch")
        self.store_object(oid, paths)
        shutil.rmtree(updir, ignore_errors=True)
        raise Reply(200, {"success": True})

    def storage(self):
        """The storage origin: presigned PUT of a whole object or of a part."""
        self.bucket = "storage"
        latency = self.hub.faults.get("storage_latency_ms") or 0
        if latency:
            time.sleep(latency / 1000.0)
        if self.command != "PUT" or self.hub.check_signature(self.raw_path, self.query):
            raise Reply(403, b"<Error>AccessDenied</Error>", content_type="application/xml")
        if self.hub.chance("storage_refuse_rate"):
            raise Reply(403, b"<Error>AccessDenied</Error><Message>refused on purpose</Message>",
                        content_type="application/xml")
        m = re.match(r"^/(put|part)/([0-9a-f]{64})(?:/(\d+))?$", self.raw_path)
        if not m:
            raise Reply(404, b"", content_type=None)
        oid = m.group(2)
        updir = os.path.join(self.hub.store.root, "uploads", oid)
        os.makedirs(updir, exist_ok=True)
        name = m.group(3) or "whole"
        path = os.path.join(updir, name)
        with open(path, "wb") as f:
            f.write(self.body)
        etag = hashlib.md5(self.body).hexdigest()
        with open(path + ".etag", "w") as f:
            f.write(etag)
        if m.group(1) == "put":
            self.store_object(oid, [path])
            shutil.rmtree(updir, ignore_errors=True)
        raise Reply(200, b"", {"ETag": f'"{etag}"'}, content_type=None)

    def commit(self, kind, repo_id, repo, rev):
        lines = [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "BadRequest", "the first line must be the header")
        if len(lines) == 1:
            raise HubError(400, "BadRequest", "No files to commit")
        ops = [(line["key"], line["value"]) for line in lines[1:]]
        sha = self.hub.store.commit(kind, repo_id, rev or "main", lines[0]["value"], ops)
        with self.hub.lock:
            lose = int(self.hub.faults.get("lose_commit_response") or 0)
            if lose:
                self.hub.faults["lose_commit_response"] = lose - 1
        if lose:
            self.status = 0
            self.hub.record({"t": time.time(), "origin": "hub", "method": "POST", "path": self.raw_path,
                             "bucket": "commit", "status": -1, "bytes": 0,
                             "auth": "Authorization" in self.headers, "range": None, "lost": True})
            self.connection.shutdown(socket.SHUT_RDWR)
            raise ConnectionError("commit response dropped on purpose")
        prefix = "" if kind == "model" else KINDS[kind] + "/"
        raise Reply(200, {"commitOid": sha, "commitUrl": f"{self.hub.urls['hub']}/{prefix}{repo_id}/commit/{sha}",
                          "pullRequestUrl": None, "hookOutput": ""})

    # --- control --------------------------------------------------------------
    def control(self, what):
        if what == "faults" and self.command == "POST":
            change = json.loads(self.body or b"{}")
            unknown = set(change) - set(FAULT_KEYS)
            if unknown:
                raise Reply(400, {"error": f"unknown fault keys: {sorted(unknown)}"})
            with self.hub.lock:
                self.hub.faults.update(change)
            if "cdn_limit_rate" in change:
                self.hub.reload_nginx()
            raise Reply(200, self.hub.faults)
        if what == "rate" and self.command == "POST":
            with self.hub.lock:
                self.hub.config["rate"].update(json.loads(self.body or b"{}"))
                self.hub.windows.clear()
            raise Reply(200, self.hub.config["rate"])
        if what == "counters":
            with self.hub.lock:
                raise Reply(200, self.hub.counters)
        raise Reply(404, {"error": f"unknown control {what}"})


def serve(workdir, config):
    os.makedirs(workdir, exist_ok=True)
    hub = Hub(workdir, config)

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 256

    servers = {}
    for origin in ("hub", "storage"):
        handler = type(f"{origin}Handler", (Handler,), {"hub": hub, "origin": origin})
        servers[origin] = Server(("127.0.0.1", 0), handler)
        hub.urls[origin] = f"http://127.0.0.1:{servers[origin].server_address[1]}"
    hub.urls["cdn"] = f"http://127.0.0.1:{free_port()}"
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    hub.start_nginx()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    info = dict(hub.urls, pid=os.getpid())
    tmp = os.path.join(workdir, "urls.json.tmp")
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, os.path.join(workdir, "urls.json"))
    print(json.dumps(info), flush=True)
    while not stop.wait(0.5):
        if hub.nginx.poll() is not None:
            print("nginx died; stopping", file=sys.stderr)
            break
    for server in servers.values():
        server.shutdown()
    hub.stop()
    os.unlink(os.path.join(workdir, "urls.json"))
    return 0


def load_config(path):
    config = json.loads(json.dumps(DEFAULTS))
    if path:
        with open(path) as f:
            user = json.load(f)
        for key, value in user.items():
            if key not in DEFAULTS:
                raise SystemExit(f"{path}: unknown key {key!r}")
            if key == "rate":
                config["rate"].update(value)
            else:
                config[key] = value
    return config


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the hub in the foreground")
    s.add_argument("--workdir", required=True)
    s.add_argument("--config")
    args = ap.parse_args()
    return serve(os.path.abspath(args.workdir), load_config(args.config))


if __name__ == "__main__":
    sys.exit(main())
