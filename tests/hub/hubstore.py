"""Repositories of the test hub, on disk, with real commits.

Every repo is a JSON file of refs and visibility; every commit a JSON file of
its parent and its whole tree (path -> size, git oid, LFS sha256), so the tree
at any commit can be listed.  File contents live in two content-addressed
stores: regular files by git blob sha1, LFS objects by sha256 (the CDN serves
the latter straight from disk).
"""
import base64
import hashlib
import json
import os
import threading
import time

LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"

DEFAULT_GITATTRIBUTES = b"""*.7z filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
"""

KINDS = {"model": "models", "dataset": "datasets", "space": "spaces"}


class HubError(Exception):
    """An error the hub answers with: status, X-Error-Code, message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid, size):
    return LFS_POINTER.format(oid=oid, size=size).encode()


def valid_repo_path(path):
    """The Hub refuses absolute paths, '..', empty segments and backslashes."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


class Store:
    def __init__(self, root):
        self.root = root
        self.lock = threading.RLock()
        self.counter = 0
        self.trees = {}     # commit -> tree; commits never change, so no invalidation
        for sub in ("repos", "commits", "blobs", "lfs", "uploads"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)

    # --- content stores -------------------------------------------------
    def blob_path(self, sha1):
        return os.path.join(self.root, "blobs", sha1)

    def lfs_path(self, sha256):
        return os.path.join(self.root, "lfs", sha256)

    def has_lfs(self, sha256):
        return os.path.exists(self.lfs_path(sha256))

    def put_blob(self, data):
        sha1 = git_blob_sha1(data)
        path = self.blob_path(sha1)
        if not os.path.exists(path):
            tmp = f"{path}.{threading.get_ident()}"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return sha1

    def read_blob(self, sha1):
        with open(self.blob_path(sha1), "rb") as f:
            return f.read()

    # --- repos and commits ------------------------------------------------
    def repo_file(self, kind, repo_id):
        return os.path.join(self.root, "repos", kind, repo_id.replace("/", "--") + ".json")

    def load_repo(self, kind, repo_id):
        try:
            with open(self.repo_file(kind, repo_id)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def save_repo(self, kind, repo_id, repo):
        path = self.repo_file(kind, repo_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(repo, f)
        os.replace(tmp, path)

    def load_commit(self, sha):
        with open(os.path.join(self.root, "commits", sha + ".json")) as f:
            return json.load(f)

    def new_commit(self, parent, tree, message):
        with self.lock:
            self.counter += 1
            seed = json.dumps([parent, sorted(tree.items()), message, time.time(), self.counter])
        sha = hashlib.sha1(seed.encode()).hexdigest()
        path = os.path.join(self.root, "commits", sha + ".json")
        with open(path + ".tmp", "w") as f:
            json.dump({"parent": parent, "tree": tree, "message": message, "time": time.time()}, f)
        os.replace(path + ".tmp", path)
        return sha

    def create_repo(self, kind, repo_id, private):
        with self.lock:
            if self.load_repo(kind, repo_id):
                raise HubError(409, "RepoExists", f"You already created this {kind} repo")
            sha1 = self.put_blob(DEFAULT_GITATTRIBUTES)
            tree = {".gitattributes": {"size": len(DEFAULT_GITATTRIBUTES), "oid": sha1}}
            sha = self.new_commit(None, tree, "initial commit")
            repo = {"id": repo_id, "kind": kind, "private": bool(private), "refs": {"main": sha}}
            self.save_repo(kind, repo_id, repo)
            return repo

    def resolve(self, repo, revision):
        """A branch, tag or commit id to a commit id."""
        if revision in (None, "", "HEAD"):
            revision = "main"
        if revision in repo["refs"]:
            return repo["refs"][revision]
        if len(revision) == 40 and os.path.exists(os.path.join(self.root, "commits", revision + ".json")):
            return revision
        raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")

    def tree(self, commit):
        """The tree at a commit (callers must not modify it)."""
        tree = self.trees.get(commit)
        if tree is None:
            tree = self.trees[commit] = self.load_commit(commit)["tree"]
        return tree

    # --- the commit call --------------------------------------------------
    def commit(self, kind, repo_id, branch, header, operations):
        """Apply NDJSON operations on top of the branch; returns the new commit."""
        with self.lock:
            repo = self.load_repo(kind, repo_id)
            if branch not in repo["refs"]:
                raise HubError(404, "RevisionNotFound", f"Invalid rev id: {branch}")
            head = repo["refs"][branch]
            parent = header.get("parentCommit")
            if parent and parent != head:
                raise HubError(412, "ParentCommitMismatch",
                               f"A commit has happened since. Please refresh and try again. ({head})")
            tree = dict(self.tree(head))
            for key, value in operations:
                self.apply(tree, key, value)
            sha = self.new_commit(head, tree, header.get("summary") or "")
            repo["refs"][branch] = sha
            self.save_repo(kind, repo_id, repo)
            return sha

    def apply(self, tree, key, value):
        path = value.get("path", "")
        if not valid_repo_path(path):
            raise HubError(422, "InvalidPath", f"Invalid path: {path!r}")
        if key == "file":
            data = base64.b64decode(value.get("content", ""))
            tree[path] = {"size": len(data), "oid": self.put_blob(data)}
        elif key == "lfsFile":
            oid, size = value.get("oid"), value.get("size")
            if not oid or not self.has_lfs(oid):
                raise HubError(422, "LfsObjectMissing", f"lfsFile {path}: object {oid} was never uploaded")
            if os.path.getsize(self.lfs_path(oid)) != size:
                raise HubError(422, "LfsSizeMismatch", f"lfsFile {path}: size {size} does not match")
            pointer = lfs_pointer(oid, size)
            tree[path] = {"size": size, "oid": git_blob_sha1(pointer),
                          "lfs": {"oid": oid, "size": size, "pointerSize": len(pointer)}}
        elif key == "deletedFile":
            if path not in tree:
                raise HubError(404, "EntryNotFound", f"{path} does not exist")
            del tree[path]
        elif key == "deletedFolder":
            prefix = path.rstrip("/") + "/"
            doomed = [p for p in tree if p.startswith(prefix)]
            if not doomed:
                raise HubError(404, "EntryNotFound", f"{path} does not exist")
            for p in doomed:
                del tree[p]
        else:
            raise HubError(400, "BadRequest", f"unknown commit line key {key!r}")


def tree_entries(tree, path, recursive):
    """The tree's entries under path: files and the directories they imply."""
    prefix = path.rstrip("/") + "/" if path else ""
    entries = {}
    digests = {}            # directory -> running sha1 of what is below it
    for file_path, meta in tree.items():
        if not file_path.startswith(prefix):
            continue
        rest = file_path[len(prefix):]
        parts = rest.split("/")
        for depth in range(1, len(parts)):
            dir_path = prefix + "/".join(parts[:depth])
            digests.setdefault(dir_path, []).append(f"{file_path} {meta['oid']}")
            if recursive or depth == 1:
                entries[dir_path] = None
        if recursive or len(parts) == 1:
            entries[file_path] = file_entry(file_path, meta)
    for dir_path in [k for k, v in entries.items() if v is None]:
        entries[dir_path] = directory_entry(dir_path, digests[dir_path])
    return [entries[k] for k in sorted(entries)]


def directory_entry(path, below):
    """A directory's oid changes whenever anything below it does (it is not
    git's tree hash, which would need git's tree objects)."""
    oid = hashlib.sha1("\n".join(sorted(below)).encode()).hexdigest()
    return {"type": "directory", "oid": oid, "size": 0, "path": path}


def file_entry(path, meta):
    entry = {"type": "file", "oid": meta["oid"], "size": meta["size"], "path": path}
    if "lfs" in meta:
        entry["lfs"] = dict(meta["lfs"])
    return entry
