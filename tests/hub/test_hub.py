"""Protocol edges of the test hub that the official JS client does not reach.

Run: python3 -m unittest test_hub   (from tests/hub)
"""
import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ALICE = {"Authorization": "Bearer hf_test_alice"}


class HubTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="ferry-test-hub-")
        config = os.path.join(cls.work, "config.json")
        with open(config, "w") as f:
            json.dump({"page_size": 3, "lfs_threshold": 1024, "multipart_threshold": 4096,
                       "multipart_chunk_size": 2048, "cdn_url_ttl": 60}, f)
        subprocess.run(["bash", os.path.join(HERE, "hubctl.sh"), "start", cls.work + "/hub", config],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(cls.work, "hub", "urls.json")) as f:
            cls.urls = json.load(f)
        cls.call("POST", "/api/repos/create", {"name": "t", "type": "dataset", "private": True}, ALICE)
        cls.commit_files({f"s{i}/f{j}.txt": f"{i}-{j}\n".encode() for i in range(2) for j in range(3)})

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["bash", os.path.join(HERE, "hubctl.sh"), "stop", cls.work + "/hub"], check=True)
        shutil.rmtree(cls.work)

    @classmethod
    def call(cls, method, path, body=None, headers=None, origin="hub", raw=False):
        """One request; returns (status, headers, body bytes)."""
        url = urllib.parse.urlsplit(cls.urls[origin] if "://" not in path else path)
        target = path if "://" not in path else path[len(f"{url.scheme}://{url.netloc}"):]
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
        try:
            conn.request(method, target, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    @classmethod
    def commit_files(cls, files, parent=None, extra=()):
        lines = [{"key": "header", "value": {"summary": "t", **({"parentCommit": parent} if parent else {})}}]
        for path, data in files.items():
            lines.append({"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(),
                                                   "encoding": "base64"}})
        lines.extend(extra)
        body = "\n".join(json.dumps(x) for x in lines).encode()
        return cls.call("POST", "/api/datasets/alice/t/commit/main", body,
                        dict(ALICE, **{"Content-Type": "application/x-ndjson"}))

    def head(self):
        status, _, body = self.call("GET", "/api/datasets/alice/t/revision/main", headers=ALICE)
        self.assertEqual(status, 200)
        return json.loads(body)["sha"]

    def faults(self, **change):
        status, _, _ = self.call("POST", "/_control/faults", change)
        self.assertEqual(status, 200)

    def test_private_repo_needs_a_token(self):
        status, headers, _ = self.call("GET", "/api/datasets/alice/t/revision/main")
        self.assertEqual(status, 401)
        self.assertEqual(headers["X-Error-Code"], "RepoNotFound")
        status, headers, body = self.call("GET", "/api/datasets/alice/t/revision/main",
                                          headers={"Authorization": "Bearer hf_wrong"})
        self.assertEqual(status, 401)
        self.assertIn("Invalid credentials", headers["X-Error-Message"])
        self.assertIn("error", json.loads(body))
        status, headers, _ = self.call("GET", "/api/datasets/alice/none/revision/main", headers=ALICE)
        self.assertEqual((status, headers["X-Error-Code"]), (404, "RepoNotFound"))
        status, headers, _ = self.call("GET", "/api/datasets/alice/t/revision/nobranch", headers=ALICE)
        self.assertEqual((status, headers["X-Error-Code"]), (404, "RevisionNotFound"))

    def test_tree_pages_with_absolute_link(self):
        path = "/api/datasets/alice/t/tree/main?recursive=true&expand=false"
        seen = []
        while path:
            status, headers, body = self.call("GET", path, headers=ALICE)
            self.assertEqual(status, 200)
            seen += json.loads(body)
            link = headers.get("Link")
            path = link[1:link.index(">")] if link else None
            if path:
                self.assertTrue(path.startswith("http://127.0.0.1:"))
                self.assertIn('rel="next"', link)
        files = [e for e in seen if e["type"] == "file"]
        self.assertIn({"type": "file", "oid": hashlib.sha1(b"blob 4\x000-0\n").hexdigest(), "size": 4,
                       "path": "s0/f0.txt"}, files)
        self.assertLessEqual({"s0", "s1"}, {e["path"] for e in seen if e["type"] == "directory"})
        self.assertEqual(len(seen), len({e["path"] for e in seen}))     # no entry twice across pages

    def test_encoded_and_raw_paths(self):
        sha = self.head()
        for path in (f"/api/datasets/alice/t/tree/{sha}/s1", "/api/datasets/alice/t/tree/main/s1",
                     "/api/datasets/alice/t/tree/main/s1%2F"):
            status, _, body = self.call("GET", path, headers=ALICE)
            self.assertEqual(status, 200, path)
            self.assertEqual([e["path"] for e in json.loads(body)], ["s1/f0.txt", "s1/f1.txt", "s1/f2.txt"])
        status, _, body = self.call("GET", "/datasets/alice/t/resolve/main/s1%2Ff2.txt", headers=ALICE)
        self.assertEqual((status, body), (200, b"1-2\n"))

    def test_paths_info_form_and_json(self):
        form = urllib.parse.urlencode([("paths", "s0/f1.txt"), ("paths", "missing"), ("expand", "false")])
        status, _, body = self.call("POST", "/api/datasets/alice/t/paths-info/main", form.encode(),
                                    dict(ALICE, **{"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(status, 200)
        self.assertEqual([e["path"] for e in json.loads(body)], ["s0/f1.txt"])
        status, _, body = self.call("POST", "/api/datasets/alice/t/paths-info/main",
                                    {"paths": ["s0", "s1/f0.txt"], "expand": True}, ALICE)
        entries = json.loads(body)
        self.assertEqual([e["type"] for e in entries], ["directory", "file"])
        self.assertIn("lastCommit", entries[1])

    def test_resolve_ranges_and_empty_file(self):
        self.commit_files({"e/empty.txt": b""})
        status, headers, body = self.call("GET", "/datasets/alice/t/resolve/main/s0/f2.txt",
                                          headers=dict(ALICE, Range="bytes=1-2"))
        self.assertEqual((status, body, headers["Content-Range"]), (206, b"-2", "bytes 1-2/4"))
        self.assertEqual(headers["X-Repo-Commit"], self.head())
        status, headers, body = self.call("GET", "/datasets/alice/t/resolve/main/e/empty.txt",
                                          headers=dict(ALICE, Range="bytes=0-0"))
        self.assertEqual((status, body, headers["Content-Length"]), (200, b"", "0"))

    def upload_lfs(self, data):
        oid = hashlib.sha256(data).hexdigest()
        status, _, body = self.call("POST", "/datasets/alice/t.git/info/lfs/objects/batch",
                                    {"operation": "upload", "transfers": ["basic", "multipart"],
                                     "hash_algo": "sha256", "objects": [{"oid": oid, "size": len(data)}]}, ALICE)
        self.assertEqual(status, 200)
        return oid, json.loads(body)["objects"][0]

    def test_lfs_basic_multipart_and_dedup(self):
        small = os.urandom(3000)
        oid, obj = self.upload_lfs(small)
        status, _, _ = self.call("PUT", obj["actions"]["upload"]["href"], small, origin="storage")
        self.assertEqual(status, 200)
        big = os.urandom(5000)
        big_oid, obj = self.upload_lfs(big)
        header = obj["actions"]["upload"]["header"]
        self.assertEqual(header["chunk_size"], "2048")
        parts = sorted(k for k in header if k.isdigit())
        self.assertEqual(parts, ["00001", "00002", "00003"])
        etags = []
        for n, key in enumerate(parts):
            status, h, _ = self.call("PUT", header[key], big[n * 2048:(n + 1) * 2048], origin="storage")
            etags.append({"partNumber": n + 1, "etag": h["ETag"]})
        bad = [dict(etags[0], etag='"nope"')] + etags[1:]
        status, _, _ = self.call("POST", obj["actions"]["upload"]["href"], {"oid": big_oid, "parts": bad})
        self.assertEqual(status, 400)
        status, _, _ = self.call("POST", obj["actions"]["upload"]["href"], {"oid": big_oid, "parts": etags})
        self.assertEqual(status, 200)
        _, again = self.upload_lfs(big)
        self.assertNotIn("actions", again)          # stored: nothing to send
        extra = [{"key": "lfsFile", "value": {"path": "lfs/big.bin", "algo": "sha256", "oid": big_oid,
                                             "size": len(big)}}]
        status, _, _ = self.commit_files({}, extra=extra)
        self.assertEqual(status, 200)
        status, headers, _ = self.call("GET", "/datasets/alice/t/resolve/main/lfs/big.bin", headers=ALICE)
        self.assertEqual((status, headers["X-Linked-Etag"]), (302, f'"{big_oid}"'))
        status, _, body = self.call("GET", headers["Location"], origin="cdn")
        self.assertEqual((status, body), (200, big))
        status, _, body = self.call("GET", headers["Location"], headers={"Range": "bytes=4096-"}, origin="cdn")
        self.assertEqual((status, body), (206, big[4096:]))
        self.faults(cdn_expire_now=True)
        status, _, _ = self.call("GET", headers["Location"], origin="cdn")
        self.faults(cdn_expire_now=False)
        self.assertEqual(status, 403)
        self.assertEqual(self.call("GET", headers["Location"].replace("sig=", "sig=0"), origin="cdn")[0], 403)
        # Body faults on the CDN: the redirect goes through the faulty route.
        self.faults(cdn_flip_rate=1.0)
        _, headers, _ = self.call("GET", "/datasets/alice/t/resolve/main/lfs/big.bin", headers=ALICE)
        self.assertIn("/lfs-faulty/", headers["Location"])
        status, _, body = self.call("GET", headers["Location"], headers={"Range": "bytes=100-2099"}, origin="cdn")
        self.assertEqual((status, len(body)), (206, 2000))
        self.assertEqual(sum(a != b for a, b in zip(body, big[100:2100])), 1)
        self.faults(cdn_flip_rate=0.0, cdn_reset_rate=1.0)
        with self.assertRaises((http.client.IncompleteRead, ConnectionError)):
            self.call("GET", headers["Location"], origin="cdn")
        self.faults(cdn_reset_rate=0.0)
        status, _, body = self.call("GET", headers["Location"], origin="cdn")
        self.assertEqual((status, body), (200, big))

    def test_commit_rules(self):
        head = self.head()
        status, _, _ = self.commit_files({"c/a.txt": b"a"}, parent="0" * 40)
        self.assertEqual(status, 412)
        status, _, body = self.commit_files({"c/a.txt": b"a"}, parent=head)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["commitOid"], self.head())
        gone = [{"key": "deletedFile", "value": {"path": "c/missing.txt"}}]
        status, headers, _ = self.commit_files({}, extra=gone)
        self.assertEqual((status, headers["X-Error-Code"]), (404, "EntryNotFound"))
        never = [{"key": "lfsFile", "value": {"path": "c/x.bin", "algo": "sha256", "oid": "ab" * 32, "size": 5}}]
        self.assertEqual(self.commit_files({}, extra=never)[0], 422)
        self.assertEqual(self.commit_files({"../evil": b"x"})[0], 422)
        self.assertEqual(self.commit_files({})[0], 400)
        folder = [{"key": "deletedFolder", "value": {"path": "c"}}]
        self.assertEqual(self.commit_files({}, extra=folder)[0], 200)

    def test_preupload(self):
        status, _, body = self.call("POST", "/api/datasets/alice/t/preupload/main", {"files": [
            {"path": "s0/f0.txt", "size": 4, "sample": base64.b64encode(b"0-0\n").decode()},
            {"path": "n/bin", "size": 10, "sample": base64.b64encode(b"\0\1\2").decode()},
            {"path": "n/big.txt", "size": 5000, "sample": base64.b64encode(b"text").decode()},
            {"path": "n/empty", "size": 0, "sample": ""}]}, ALICE)
        files = {f["path"]: f for f in json.loads(body)["files"]}
        self.assertEqual(status, 200)
        self.assertEqual(files["s0/f0.txt"]["uploadMode"], "regular")
        self.assertEqual(files["s0/f0.txt"]["oid"], hashlib.sha1(b"blob 4\x000-0\n").hexdigest())
        self.assertEqual([files[p]["uploadMode"] for p in ("n/bin", "n/big.txt", "n/empty")],
                         ["lfs", "lfs", "regular"])
        self.assertTrue(all(f["shouldIgnore"] is False for f in files.values()))

    def test_rate_limit_headers_and_429(self):
        status, headers, _ = self.call("GET", "/api/datasets/alice/t/revision/main", headers=ALICE)
        self.assertRegex(headers["RateLimit"], r'^"api";r=\d+;t=\d+$')
        self.assertRegex(headers["RateLimit-Policy"], r'^"fixed window";"api";q=\d+;w=\d+$')
        self.call("POST", "/_control/rate", {"api": {"quota": 3, "window": 30}})
        try:
            codes = [self.call("GET", "/api/datasets/alice/t/revision/main", headers=ALICE)[0] for _ in range(5)]
            self.assertEqual(codes, [200, 200, 200, 429, 429])
            status, headers, _ = self.call("GET", "/api/datasets/alice/t/revision/main", headers=ALICE)
            self.assertIn('"api";r=0;', headers["RateLimit"])
            self.assertGreater(int(headers["Retry-After"]), 0)
        finally:
            self.call("POST", "/_control/rate", {"api": {"quota": 100000, "window": 300}})
        self.call("POST", "/_control/rate", {"commit_per_hour": 1})
        try:
            self.assertEqual(self.commit_files({"q/1.txt": b"1"})[0], 200)
            status, _, body = self.commit_files({"q/2.txt": b"2"})
            self.assertEqual(status, 429)
            self.assertIn("hourly quotas for action: commit", json.loads(body)["error"])
        finally:
            self.call("POST", "/_control/rate", {"commit_per_hour": 100000})

    def test_faults_switch_at_run_time(self):
        self.faults(error_rate=1.0, error_codes=[503])
        status = self.call("GET", "/api/datasets/alice/t/revision/main", headers=ALICE)[0]
        self.faults(error_rate=0.0)
        self.assertEqual(status, 503)
        self.assertEqual(self.call("GET", "/api/datasets/alice/t/revision/main", headers=ALICE)[0], 200)
        self.faults(flip_rate=1.0)
        _, _, body = self.call("GET", "/datasets/alice/t/resolve/main/s0/f0.txt", headers=ALICE)
        self.faults(flip_rate=0.0)
        self.assertEqual(len(body), 4)
        self.assertNotEqual(body, b"0-0\n")
        self.faults(reset_rate=1.0)
        with self.assertRaises((http.client.IncompleteRead, ConnectionError)):
            self.call("GET", "/datasets/alice/t/resolve/main/s0/f0.txt", headers=ALICE)
        self.faults(reset_rate=0.0)
        head = self.head()
        self.faults(lose_commit_response=1)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.commit_files({"lost/a.txt": b"a"})
        self.assertNotEqual(self.head(), head)      # applied, though the answer was lost
        status, _, counters = self.call("GET", "/_control/counters")
        self.assertGreater(json.loads(counters)["requests"]["hub:api"], 0)

    def test_two_hubs_at_once(self):
        other = os.path.join(self.work, "second")
        url = subprocess.run(["bash", os.path.join(HERE, "hubctl.sh"), "start", other], check=True,
                             capture_output=True, text=True).stdout.strip()
        try:
            with open(os.path.join(other, "urls.json")) as f:
                urls = json.load(f)
            self.assertEqual(url, urls["hub"])
            self.assertFalse(set(urls.values()) & set(self.urls.values()))
            status, _, body = self.call("GET", f"{url}/api/whoami-v2", headers=ALICE)
            self.assertEqual((status, json.loads(body)["name"]), (200, "alice"))
            self.assertEqual(self.call("GET", f"{url}/api/datasets/alice/t/revision/main",
                                       headers=ALICE)[0], 404)     # its own, empty store
        finally:
            subprocess.run(["bash", os.path.join(HERE, "hubctl.sh"), "stop", other], check=True)
        self.assertFalse(os.path.exists(os.path.join(other, "urls.json")))

    def test_request_log_and_auth_flags(self):
        out = subprocess.run(["python3", os.path.join(HERE, "hublog.py"), self.work + "/hub"],
                             check=True, capture_output=True, text=True).stdout
        log = [json.loads(line) for line in out.splitlines()]
        self.assertTrue(all({"t", "origin", "method", "path", "bucket", "status", "bytes", "auth"} <= set(e)
                            for e in log))
        self.assertTrue(any(e["origin"] == "hub" and e["auth"] for e in log))


if __name__ == "__main__":
    unittest.main()
