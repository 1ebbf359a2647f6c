#!/usr/bin/env python3
"""A checking reverse proxy in front of s3rver for ferry's S3 tests.

s3rver 3.7.1 stores objects faithfully but never checks SigV4 signatures (it
only looks the access key up), so a client that signs wrongly would pass every
test against it and fail against real S3.  This proxy sits in front and does
what S3 (or GCS's XML API, for GOOG4) does at the door:

  * verifies AWS4-HMAC-SHA256 and GOOG4-HMAC-SHA256 header signatures,
    the request date (15 minutes of skew) and the declared payload hash;
  * decodes aws-chunked bodies (STREAMING-* payloads) and checks their chunk
    signatures, since s3rver would store the chunk framing as data;
  * checks x-amz-checksum-sha256 / -crc32 headers like S3 does;
  * answers the multipart calls s3rver lacks (ListMultipartUploads, ListParts,
    AbortMultipartUpload) from s3rver's own store directory;
  * injects faults from a JSON file re-read on every request;
  * logs one JSON line per request.

Only the standard library is used.  Bodies are spooled to a temporary file
(in memory up to SPOOL_MEM bytes) before they are forwarded: that is what lets
a bad hash be answered with 400 before s3rver stores anything, and it keeps
memory flat for bodies of several GiB.
"""

import argparse
import base64
import binascii
import calendar
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
import zlib
import http.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

BLOCK = 1 << 20
SPOOL_MEM = 8 << 20
MAX_SKEW = 15 * 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Headers that belong to one hop and are never relayed.
HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
               "te", "trailer", "upgrade", "expect", "proxy-authorization"}
SECRET_HEADERS = {"authorization", "x-amz-security-token", "x-goog-security-token"}


class S3Fail(Exception):
    """An S3-style error answer: HTTP status, S3 error code, message, extra XML fields."""

    def __init__(self, status, code, message, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_xml(code, message, **extra):
    fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in extra.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message>{fields}"
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>").encode()


# ---------------------------------------------------------------- SigV4 -----

def uri_encode(s):
    """RFC 3986 encoding as SigV4 wants it: only A-Za-z0-9-_.~ stay as they are."""
    return urllib.parse.quote(s, safe="-_.~")


def canonical_query(raw_query, drop=()):
    """Canonical query string: each name and value decoded then strictly re-encoded,
    sorted by name then value, always name=value (S3 keeps '=' for empty values)."""
    pairs = []
    for piece in raw_query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        name = uri_encode(urllib.parse.unquote(name))
        if name in drop:
            continue
        pairs.append((name, uri_encode(urllib.parse.unquote(value))))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


def header_value(headers, name):
    """All values of one header, as SigV4 canonicalises them: trimmed, inner runs of
    spaces collapsed, several occurrences joined by commas; None when absent."""
    values = headers.get_all(name)
    if values is None:
        return None
    return ",".join(" ".join(v.split()) for v in values)


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Auth:
    """The parsed Authorization header of one request plus what was computed from it."""

    def __init__(self, dialect, access_key, date, scope, signed_headers, signature):
        self.dialect = dialect            # "aws" or "goog"
        self.access_key = access_key
        self.date = date                  # the request's x-amz-date / x-goog-date
        self.scope = scope                # DATE/REGION/SERVICE/aws4_request
        self.signed_headers = signed_headers
        self.signature = signature
        self.signing_key = None
        self.canonical_request = ""
        self.string_to_sign = ""

    @property
    def algorithm(self):
        return "AWS4-HMAC-SHA256" if self.dialect == "aws" else "GOOG4-HMAC-SHA256"


AUTH_RE = re.compile(r"^(AWS4|GOOG4)-HMAC-SHA256\s+(.*)$", re.S)


def parse_authorization(value):
    m = AUTH_RE.match(value.strip())
    if not m:
        raise S3Fail(400, "InvalidArgument", "Unsupported Authorization Type")
    fields = {}
    for part in m.group(2).split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    if not all(k in fields for k in ("Credential", "SignedHeaders", "Signature")):
        raise S3Fail(400, "AuthorizationHeaderMalformed",
                     "The authorization header is malformed; it requires Credential, "
                     "SignedHeaders and Signature.")
    dialect = "aws" if m.group(1) == "AWS4" else "goog"
    cred = fields["Credential"].split("/")
    terminal = dialect + "4_request"
    if len(cred) != 5 or cred[4] != terminal:
        raise S3Fail(400, "AuthorizationHeaderMalformed",
                     f"The authorization header is malformed; the Credential must be "
                     f"KEY/DATE/REGION/SERVICE/{terminal}.")
    return Auth(dialect, cred[0], None, "/".join(cred[1:]),
                fields["SignedHeaders"], fields["Signature"])


def parse_amz_date(value):
    """Seconds since the epoch of a YYYYMMDDTHHMMSSZ stamp, or None."""
    try:
        return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))
    except (TypeError, ValueError):
        return None


def verify_signature(method, raw_path, raw_query, headers, auth, secret, payload_hash):
    """Recompute the signature exactly as S3 does; fill auth's canonical strings and
    signing key (needed again for aws-chunked chunk signatures).  True if it matches."""
    path = raw_path or "/"   # S3 signs the path as sent: no normalising, no re-encoding
    names = auth.signed_headers.split(";")
    lines = []
    for name in names:
        value = header_value(headers, name)
        if value is None:
            return False    # a signed header that did not arrive cannot match
        lines.append(f"{name}:{value}\n")
    auth.canonical_request = "\n".join([
        method, path, canonical_query(raw_query), "".join(lines), auth.signed_headers,
        payload_hash])
    auth.string_to_sign = "\n".join([
        auth.algorithm, auth.date, auth.scope,
        hashlib.sha256(auth.canonical_request.encode()).hexdigest()])
    date, region, service, terminal = auth.scope.split("/")
    key = hmac256((auth.dialect.upper() + "4" + secret).encode(), date)
    for part in (region, service, terminal):
        key = hmac256(key, part)
    auth.signing_key = key
    expected = hmac.new(key, auth.string_to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, auth.signature)


# ---------------------------------------------------------------- faults ----

class Faults:
    """Rules from the --faults file, re-read on every request; counters live here and
    start again whenever the file's content changes."""

    ACTIONS = {"503", "slowdown", "500", "reset", "reset_after", "lose"}

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.text = None
        self.rules = []
        self.seen = []

    def _reload(self):
        try:
            with open(self.path) as f:
                text = f.read()
        except (OSError, TypeError):
            text = ""
        if text == self.text:
            return
        self.text = text
        try:
            self.rules = json.loads(text).get("rules", []) if text.strip() else []
        except ValueError as e:
            print(f"s3proxy: ignoring bad faults file {self.path}: {e}", file=sys.stderr)
            self.rules = []
        self.seen = [0] * len(self.rules)

    def pick(self, method, path, query_names, query=""):
        """The action for this request, or None.  A rule lets its first `skip` matches
        through, faults the next `count` (every later one when count is absent)."""
        if not self.path:
            return None
        with self.lock:
            self._reload()
            for i, rule in enumerate(self.rules):
                if "method" in rule and rule["method"].upper() != method:
                    continue
                if "query_has" in rule and rule["query_has"] not in query_names:
                    continue
                if "path_re" in rule and not re.search(rule["path_re"], path):
                    continue
                if "query_re" in rule and not re.search(rule["query_re"], query):
                    continue
                self.seen[i] += 1
                n = self.seen[i] - rule.get("skip", 0)
                if n >= 1 and ("count" not in rule or n <= rule["count"]):
                    action = str(rule.get("action", "503"))
                    return action if action in self.ACTIONS else None
            return None


# ----------------------------------------------- multipart from the store ---

class Store:
    """What s3rver lacks for multipart uploads, answered from its on-disk layout:
    STORE/BUCKET/._S3rver_uploads/UPLOADID/{key,metadata,N,N.md5}."""

    def __init__(self, root):
        self.root = root

    def uploads_dir(self, bucket):
        return os.path.join(self.root, bucket, "._S3rver_uploads")

    def list_uploads(self, bucket, prefix):
        base = self.uploads_dir(bucket)
        out = []
        for uid in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            try:
                with open(os.path.join(base, uid, "key")) as f:
                    key = f.read()
                started = os.stat(os.path.join(base, uid, "key")).st_mtime
            except OSError:
                continue
            if key.startswith(prefix):
                out.append((key, uid, started))
        out.sort()
        items = "".join(
            f"<Upload><Key>{escape(k)}</Key><UploadId>{u}</UploadId>"
            f"<Initiated>{iso8601(t)}</Initiated><StorageClass>STANDARD</StorageClass></Upload>"
            for k, u, t in out)
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult>'
                f"<Bucket>{escape(bucket)}</Bucket><Prefix>{escape(prefix)}</Prefix>"
                f"<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>{items}"
                f"</ListMultipartUploadsResult>").encode()

    def keys(self, bucket, prefix):
        """The bucket's object keys under prefix, sorted.  An object whose .md5 is not
        written yet is still being PUT (s3rver writes the data in place first) and is
        left out, as S3 lists only complete objects."""
        base = os.path.join(self.root, bucket)
        suffix = "._S3rver_object"
        out = []
        for top, dirs, files in os.walk(base):
            rel = os.path.relpath(top, base)
            rel = "" if rel == "." else rel + "/"
            # Prune folders that cannot hold a key under prefix.
            dirs[:] = [d for d in dirs if d != "._S3rver_uploads" and
                       ((rel + d + "/").startswith(prefix) or prefix.startswith(rel + d + "/"))]
            for f in files:
                if f.endswith(suffix) and (rel + f[:-len(suffix)]).startswith(prefix) \
                        and f + ".md5" in files:
                    out.append(rel + f[:-len(suffix)])
        out.sort()
        return out

    def list_v2(self, bucket, q):
        """ListObjectsV2 from the store.  s3rver's own misses every common prefix whose
        objects lie two or more folders down (it prunes those folders while walking)."""
        if not os.path.isdir(os.path.join(self.root, bucket)):
            raise S3Fail(404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket)
        arg = lambda name: q.get(name, [""])[0]
        prefix, delim = arg("prefix"), arg("delimiter")
        try:
            max_keys = min(int(arg("max-keys") or 1000), 1000)
        except ValueError:
            raise S3Fail(400, "InvalidArgument", "Provided max-keys not an integer or within integer range")
        token = arg("continuation-token")
        try:
            after = base64.urlsafe_b64decode(token).decode() if token else arg("start-after")
        except (ValueError, UnicodeDecodeError):
            raise S3Fail(400, "InvalidArgument", "The continuation token provided is incorrect")
        enc = (lambda v: urllib.parse.quote(v, safe="/")) if arg("encoding-type") == "url" \
            else (lambda v: v)
        entries, seen, truncated, last = [], set(), False, ""
        for key in self.keys(bucket, prefix):
            cut = key.find(delim, len(prefix)) if delim else -1
            name = key[:cut + len(delim)] if cut >= 0 else key
            if name <= after or name in seen:
                continue
            if len(entries) == max_keys:
                truncated = True
                break
            seen.add(name)
            entries.append((name, cut >= 0, key))
            last = name
        body = [f"<Name>{escape(bucket)}</Name><Prefix>{escape(enc(prefix))}</Prefix>"
                f"<KeyCount>{len(entries)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>"]
        if delim:
            body.append(f"<Delimiter>{escape(enc(delim))}</Delimiter>")
        body.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if token:
            body.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if truncated:
            nxt = base64.urlsafe_b64encode(last.encode()).decode()
            body.append(f"<NextContinuationToken>{nxt}</NextContinuationToken>")
        if arg("start-after"):
            body.append(f"<StartAfter>{escape(enc(arg('start-after')))}</StartAfter>")
        for name, is_prefix, key in entries:
            if is_prefix:
                continue
            path = self.object_path(bucket, key)
            st = os.stat(path)
            with open(path + ".md5") as f:
                md5 = f.read().strip()
            body.append(f"<Contents><Key>{escape(enc(key))}</Key><LastModified>{iso8601(st.st_mtime)}"
                        f"</LastModified><ETag>&quot;{md5}&quot;</ETag><Size>{st.st_size}</Size>"
                        f"<StorageClass>STANDARD</StorageClass></Contents>")
        for name, is_prefix, _ in entries:
            if is_prefix:
                body.append(f"<CommonPrefixes><Prefix>{escape(enc(name))}</Prefix></CommonPrefixes>")
        if arg("encoding-type") == "url":
            body.append("<EncodingType>url</EncodingType>")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
                'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' + "".join(body) +
                "</ListBucketResult>").encode()

    def object_path(self, bucket, key):
        folder, _, name = key.rpartition("/")
        return os.path.join(self.root, bucket, folder, name + "._S3rver_object")

    def upload_dir(self, bucket, key, uid):
        d = os.path.join(self.uploads_dir(bucket), os.path.basename(uid))
        try:
            with open(os.path.join(d, "key")) as f:
                if f.read() == key:
                    return d
        except OSError:
            pass
        raise S3Fail(404, "NoSuchUpload", "The specified upload does not exist.",
                     UploadId=uid)

    def list_parts(self, bucket, key, uid):
        d = self.upload_dir(bucket, key, uid)
        parts = sorted(int(n) for n in os.listdir(d) if n.isdigit())
        items = []
        for n in parts:
            p = os.path.join(d, str(n))
            try:
                with open(p + ".md5") as f:
                    md5 = f.read().strip()
                st = os.stat(p)
            except OSError:
                continue  # a part still being written
            items.append(f"<Part><PartNumber>{n}</PartNumber><LastModified>{iso8601(st.st_mtime)}"
                         f"</LastModified><ETag>&quot;{md5}&quot;</ETag><Size>{st.st_size}</Size></Part>")
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult>'
                f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key><UploadId>{uid}</UploadId>"
                f"<MaxParts>10000</MaxParts><IsTruncated>false</IsTruncated>{''.join(items)}"
                f"</ListPartsResult>").encode()

    def check_complete(self, bucket, key, uid, xml_body, min_part):
        """Refuses a CompleteMultipartUpload the way S3 does, before s3rver sees it:
        s3rver never compares ETags, and a part it lacks kills the whole process
        (an unhandled ENOENT on a read stream)."""
        d = self.upload_dir(bucket, key, uid)
        try:
            root = ET.fromstring(xml_body)
        except ET.ParseError:
            raise S3Fail(400, "MalformedXML", "The XML you provided was not well-formed.")
        parts = []
        for el in root.iter():
            if el.tag.rpartition("}")[2] == "Part":
                fields = {c.tag.rpartition("}")[2]: (c.text or "").strip() for c in el}
                try:
                    parts.append((int(fields.get("PartNumber", "")), fields.get("ETag", "").strip('"')))
                except ValueError:
                    raise S3Fail(400, "MalformedXML", "A PartNumber is not a number.")
        if not parts:
            raise S3Fail(400, "MalformedXML", "The XML you provided lists no parts.")
        if [n for n, _ in parts] != sorted({n for n, _ in parts}):
            raise S3Fail(400, "InvalidPartOrder",
                         "The list of parts was not in ascending order. Parts must be ordered by part number.")
        for i, (n, etag) in enumerate(parts):
            p = os.path.join(d, str(n))
            try:
                with open(p + ".md5") as f:
                    md5 = f.read().strip()
                size = os.stat(p).st_size
            except OSError:
                md5, size = None, 0
            if md5 is None or md5 != etag:
                raise S3Fail(400, "InvalidPart",
                             "One or more of the specified parts could not be found. The part may not "
                             "have been uploaded, or the specified entity tag may not match the part's "
                             "entity tag.", UploadId=uid, PartNumber=n, ETag=etag)
            if size < min_part and i < len(parts) - 1:
                raise S3Fail(400, "EntityTooSmall",
                             "Your proposed upload is smaller than the minimum allowed object size.",
                             ProposedSize=size, MinSizeAllowed=min_part, PartNumber=n, ETag=etag)

    def abort(self, bucket, key, uid):
        shutil.rmtree(self.upload_dir(bucket, key, uid), ignore_errors=True)


def iso8601(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


# ---------------------------------------------------------------- bodies ----

class BodyReader:
    """Reads a request body from the client (Content-Length or chunked transfer
    encoding) in blocks, counting the bytes."""

    def __init__(self, rfile, headers):
        self.rfile = rfile
        self.count = 0
        te = (headers.get("Transfer-Encoding") or "").lower()
        self.chunked = "chunked" in te
        self.left = int(headers.get("Content-Length") or 0) if not self.chunked else 0
        self.chunk_left = 0
        self.done = False

    def read(self, n=BLOCK):
        if self.done:
            return b""
        if not self.chunked:
            data = self.rfile.read(min(n, self.left)) if self.left else b""
            self.left -= len(data)
            if not data:
                self.done = True
                if self.left:
                    raise ConnectionError("client closed mid-body")
        else:
            if self.chunk_left == 0:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass   # trailers: nothing here needs them
                    self.done = True
                    return b""
                self.chunk_left = size
            data = self.rfile.read(min(n, self.chunk_left))
            if not data:
                raise ConnectionError("client closed mid-body")
            self.chunk_left -= len(data)
            if self.chunk_left == 0:
                self.rfile.readline()
        self.count += len(data)
        return data

    def drain(self):
        while self.read():
            pass


class AwsChunked:
    """Decodes an aws-chunked body ("SIZE;chunk-signature=SIG\\r\\nDATA\\r\\n"... then a
    zero chunk and optional trailers) and checks each chunk signature when the payload
    is STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]."""

    def __init__(self, src, auth, signed):
        self.src = src
        self.auth = auth
        self.signed = signed
        self.prev = auth.signature if auth else ""
        self.buf = b""
        self.trailers = {}

    def _fill(self, n):
        while len(self.buf) < n:
            data = self.src.read()
            if not data:
                raise S3Fail(400, "IncompleteBody", "The aws-chunked body ended early.")
            self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.src.read()
            if not data:
                raise S3Fail(400, "IncompleteBody", "The aws-chunked body ended early.")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line.decode("latin-1")

    def _check(self, kind, digest):
        sts = "\n".join([f"AWS4-HMAC-SHA256-{kind}", self.auth.date, self.auth.scope,
                         self.prev, *([EMPTY_SHA256] if kind == "PAYLOAD" else []), digest])
        return hmac.new(self.auth.signing_key, sts.encode(), hashlib.sha256).hexdigest()

    def chunks(self):
        """Yields the decoded data in pieces."""
        while True:
            head = self._line()
            size_s, _, ext = head.partition(";")
            size = int(size_s, 16)
            data = b""
            if size:
                # Chunks are small (SDKs use 64 KiB, others up to 8 MiB): one is read
                # whole to check its signature.  The last, empty one has no CRLF of its
                # own: the trailers or the final CRLF follow its header line.
                self._fill(size + 2)
                data, self.buf = self.buf[:size], self.buf[size + 2:]
            if self.signed:
                sig = ext.partition("chunk-signature=")[2]
                want = self._check("PAYLOAD", hashlib.sha256(data).hexdigest())
                if not hmac.compare_digest(sig, want):
                    raise S3Fail(403, "SignatureDoesNotMatch",
                                 "A chunk signature of the aws-chunked body does not match.")
                self.prev = want
            if size == 0:
                break
            yield data
        self._read_trailers()

    def _read_trailers(self):
        lines = []
        while True:
            try:
                line = self._line()
            except S3Fail:
                break   # no trailers and no final CRLF: tolerated, like S3
            if line == "":
                break
            lines.append(line)
        sig = None
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "x-amz-trailer-signature":
                sig = value.strip()
            else:
                self.trailers[name.strip().lower()] = value.strip()
        if self.signed and self.trailers:
            text = "".join(f"{k}:{v}\n" for k, v in self.trailers.items())
            want = self._check("TRAILER", hashlib.sha256(text.encode()).hexdigest())
            if not sig or not hmac.compare_digest(sig, want):
                raise S3Fail(403, "SignatureDoesNotMatch", "The trailer signature does not match.")


# ---------------------------------------------------------------- handler ---

class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3proxy"
    cfg = None   # set in main()

    def log_message(self, fmt, *args):
        pass   # one JSON line per request is written by log_request_line instead

    # http.server sends "100 Continue" before do_X runs; that is what S3 does too when
    # the headers are acceptable, and a refused request drains the body anyway.
    def do_GET(self): self.handle_request()
    def do_HEAD(self): self.handle_request()
    def do_PUT(self): self.handle_request()
    def do_POST(self): self.handle_request()
    def do_DELETE(self): self.handle_request()

    def handle_request(self):
        self.bytes_out = 0
        self.fault = None
        self.sig = "none"
        self.status = 0
        raw_path, _, raw_query = self.path.partition("?")
        self.raw_path, self.raw_query = raw_path, raw_query
        self.body = BodyReader(self.rfile, self.headers)
        spool = None
        try:
            if raw_path == "/__health":
                self.body.drain()
                return self.answer(200, b"ok\n", {"Content-Type": "text/plain"})
            auth = self.authenticate()
            spool, length = self.read_body(auth)
            self.fault = self.cfg.faults.pick(self.command, raw_path, self.query_names(),
                                              self.path.partition("?")[2])
            if self.fault:
                return self.inject(spool, length)
            if self.emulate(spool):
                return None
            self.forward(spool, length)
        except S3Fail as e:
            if e.code == "SignatureDoesNotMatch":
                self.sig = "bad"   # also a chunk signature, after the header's was fine
            self.body.drain()
            head = {"Content-Type": "application/xml"}
            self.answer(e.status, error_xml(e.code, e.message, **e.extra), head)
        except (ConnectionError, socket.timeout, BrokenPipeError):
            self.status = self.status or 499
            self.close_connection = True
        finally:
            if spool:
                spool.close()
            self.log_request_line()

    def query_names(self):
        return {urllib.parse.unquote(p.partition("=")[0]) for p in self.raw_query.split("&") if p}

    # ---- authentication

    def authenticate(self):
        """Checks the signature over the headers; returns the Auth (None if anonymous)."""
        value = self.headers.get("Authorization")
        if value is None:
            if self.cfg.allow_anonymous:
                return None
            raise S3Fail(403, "AccessDenied", "Access Denied")
        self.sig = "bad"
        auth = parse_authorization(value)
        dialect = "amz" if auth.dialect == "aws" else "goog"   # header prefix
        secret = self.cfg.keys.get(auth.access_key)
        if secret is None:
            raise S3Fail(403, "InvalidAccessKeyId",
                         "The AWS Access Key Id you provided does not exist in our records.",
                         AWSAccessKeyId=auth.access_key)
        auth.date = (self.headers.get(f"x-{dialect}-date") or "").strip()
        when = parse_amz_date(auth.date)
        if when is None:
            raise S3Fail(403, "AccessDenied",
                         f"AWS authentication requires a valid x-{dialect}-date header")
        if abs(time.time() - when) > MAX_SKEW:
            raise S3Fail(403, "RequestTimeTooSkewed",
                         "The difference between the request time and the current time is too large.",
                         RequestTime=auth.date, MaxAllowedSkewMilliseconds=MAX_SKEW * 1000)
        if auth.scope.split("/")[0] != auth.date[:8]:
            raise S3Fail(403, "SignatureDoesNotMatch",
                         "The credential date does not match the request date.")
        payload = self.payload_hash(dialect)
        if not verify_signature(self.command, self.raw_path, self.raw_query, self.headers,
                                auth, secret, payload):
            extra = {"AWSAccessKeyId": auth.access_key, "StringToSign": auth.string_to_sign,
                     "SignatureProvided": auth.signature,
                     "CanonicalRequest": auth.canonical_request}
            if self.cfg.debug:
                print(f"s3proxy: bad signature for {self.command} {self.path}\n"
                      f"--- canonical request ---\n{auth.canonical_request}\n---", file=sys.stderr)
            raise S3Fail(403, "SignatureDoesNotMatch",
                         "The request signature we calculated does not match the signature "
                         "you provided. Check your key and signing method.", **extra)
        self.sig = "ok"
        auth.payload = payload
        return auth

    def payload_hash(self, dialect):
        value = self.headers.get(f"x-{dialect}-content-sha256")
        if value is None:
            if dialect == "goog":   # GCS makes it optional; S3 requires it
                return "UNSIGNED-PAYLOAD"
            raise S3Fail(400, "InvalidRequest",
                         "Missing required header for this request: x-amz-content-sha256")
        value = value.strip()
        if value == "UNSIGNED-PAYLOAD" or value.startswith("STREAMING-") or \
                re.fullmatch(r"[0-9a-fA-F]{64}", value):
            return value
        raise S3Fail(400, "InvalidArgument",
                     "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-..., or a valid sha256 value.")

    # ---- request body

    def read_body(self, auth):
        """Spools the (decoded) body and checks every hash the request declared.
        Returns (spool file or None, length)."""
        if self.command in ("GET", "HEAD", "DELETE") and not self.body.chunked \
                and self.body.left == 0:
            return None, 0
        # S3 wants the length up front, except for aws-chunked bodies that declare
        # their decoded length (SDKs send those with chunked transfer encoding).
        if self.command == "PUT" and self.body.chunked and \
                self.headers.get("x-amz-decoded-content-length") is None:
            raise S3Fail(411, "MissingContentLength",
                         "You must provide the Content-Length HTTP header.")
        payload = auth.payload if auth else (self.headers.get("x-amz-content-sha256") or "")
        source = self.body.read
        chunked = None
        if payload.startswith("STREAMING-") or \
                "aws-chunked" in (self.headers.get("Content-Encoding") or ""):
            chunked = AwsChunked(self.body, auth,
                                 signed=payload.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"))
            source = iter(chunked.chunks()).__next__
        # Hash only what some header or trailer asks to be checked: sha256 is the
        # slowest step of a large upload.
        declared = (self.headers.get("x-amz-trailer") or "").lower() + " " + " ".join(
            n.lower() for n in self.headers.keys() if n.lower().startswith("x-amz-checksum-"))
        want_sha = bool(re.fullmatch(r"[0-9a-fA-F]{64}", payload)) or "checksum-sha256" in declared
        want_crc = "checksum-crc32" in declared and "checksum-crc32c" not in declared
        sha, crc, length = hashlib.sha256(), 0, 0
        spool = tempfile.SpooledTemporaryFile(SPOOL_MEM, dir=self.cfg.spool_dir)
        try:
            while True:
                try:
                    data = source()
                except StopIteration:
                    break
                if not data:
                    break
                if want_sha:
                    sha.update(data)
                if want_crc:
                    crc = zlib.crc32(data, crc)
                spool.write(data)
                length += len(data)
            self.body.drain()   # what follows an aws-chunked body's end, up to the HTTP end
            self.check_hashes(payload, sha, crc, length, chunked)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, length

    def check_hashes(self, payload, sha, crc, length, chunked):
        if re.fullmatch(r"[0-9a-fA-F]{64}", payload) and sha.hexdigest() != payload.lower():
            raise S3Fail(400, "XAmzContentSHA256Mismatch",
                         "The provided 'x-amz-content-sha256' header does not match what was computed.",
                         ClientComputedContentSHA256=payload,
                         S3ComputedContentSHA256=sha.hexdigest())
        declared = dict(chunked.trailers) if chunked else {}
        for name in ("x-amz-checksum-sha256", "x-amz-checksum-crc32"):
            if self.headers.get(name):
                declared[name] = self.headers.get(name).strip()
        computed = {"x-amz-checksum-sha256": base64.b64encode(sha.digest()).decode(),
                    "x-amz-checksum-crc32": base64.b64encode(struct.pack(">I", crc)).decode()}
        for name, value in declared.items():
            if name in computed and value != computed[name]:
                algo = name.rsplit("-", 1)[1].upper()
                raise S3Fail(400, "BadDigest",
                             f"The {algo} you specified did not match the calculated checksum.")
        decoded = self.headers.get("x-amz-decoded-content-length")
        if chunked and decoded is not None and int(decoded) != length:
            raise S3Fail(400, "IncompleteBody",
                         "x-amz-decoded-content-length does not match the decoded body.")

    # ---- faults and emulated calls

    def inject(self, spool, length):
        f = self.fault
        if f in ("503", "slowdown", "500"):
            code, status, msg = {"503": ("ServiceUnavailable", 503, "Please reduce your request rate."),
                                 "slowdown": ("SlowDown", 503, "Please reduce your request rate."),
                                 "500": ("InternalError", 500, "We encountered an internal error. Please try again.")}[f]
            return self.answer(status, error_xml(code, msg), {"Content-Type": "application/xml"})
        if f == "lose":
            # The store's proper answer (the body's MD5 as ETag), yet nothing is
            # stored: only the completion can find out (InvalidPart).
            md5 = hashlib.md5()
            if spool is not None:
                spool.seek(0)
                for block in iter(lambda: spool.read(BLOCK), b""):
                    md5.update(block)
            return self.answer(200, b"", {"ETag": '"%s"' % md5.hexdigest()})
        if f == "reset_after":
            self.forward(spool, length, relay=False)
        self.status = 0
        self.reset()

    def reset(self):
        """Closes the client connection with a TCP RST and no answer at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    def emulate(self, spool):
        """Answers ListMultipartUploads, ListParts and AbortMultipartUpload, which s3rver
        3.7.1 refuses (NotImplemented / MethodNotAllowed), and checks the parts that
        CompleteMultipartUpload lists.  True when answered."""
        if not self.cfg.store:
            return False
        parts = self.raw_path.lstrip("/").split("/", 1)
        bucket = urllib.parse.unquote(parts[0])
        key = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
        q = urllib.parse.parse_qs(self.raw_query, keep_blank_values=True)
        xml = {"Content-Type": "application/xml"}
        if self.command == "GET" and not key and q.get("list-type") == ["2"]:
            self.answer(200, self.cfg.store_api.list_v2(bucket, q), xml)
            return True
        if self.command == "GET" and not key and "uploads" in q:
            if not os.path.isdir(os.path.join(self.cfg.store, bucket)):
                raise S3Fail(404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket)
            self.answer(200, self.cfg.store_api.list_uploads(bucket, q.get("prefix", [""])[0]), xml)
            return True
        if key and "uploadId" in q and self.command == "POST" and spool is not None:
            self.cfg.store_api.check_complete(bucket, key, q["uploadId"][0], spool.read(),
                                              self.cfg.min_part)
            spool.seek(0)
            return False
        if key and "uploadId" in q and self.command in ("GET", "DELETE"):
            uid = q["uploadId"][0]
            if self.command == "GET":
                self.answer(200, self.cfg.store_api.list_parts(bucket, key, uid), xml)
            else:
                self.cfg.store_api.abort(bucket, key, uid)
                self.answer(204, b"", {})
            return True
        return False

    # ---- forwarding

    def forward(self, spool, length, relay=True):
        """Sends the request on to s3rver, without the client's credentials (s3rver
        would refuse keys it does not know, and GOOG4 altogether), and relays the answer."""
        conn = http.client.HTTPConnection(self.cfg.upstream_host, self.cfg.upstream_port, timeout=600)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            # The client's Host, so the URLs s3rver writes into answers (Location)
            # name the proxy.
            conn.putheader("Host", self.headers.get("Host") or
                           f"{self.cfg.upstream_host}:{self.cfg.upstream_port}")
            drop = HOP_HEADERS | SECRET_HEADERS | {"host", "content-length", "content-encoding",
                                                   "x-amz-decoded-content-length"}
            for name, value in self.headers.items():
                if name.lower() not in drop:
                    conn.putheader(name, value)
            enc = [e.strip() for e in (self.headers.get("Content-Encoding") or "").split(",")
                   if e.strip() and e.strip() != "aws-chunked"]
            if enc:
                conn.putheader("Content-Encoding", ", ".join(enc))
            if spool is not None or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(length))
            conn.endheaders()
            while spool is not None:
                data = spool.read(BLOCK)
                if not data:
                    break
                conn.send(data)
            resp = conn.getresponse()
            if relay:
                self.relay(resp)
            else:
                while resp.read(BLOCK):
                    pass
        except (OSError, http.client.HTTPException) as e:
            if not relay:
                return
            raise S3Fail(502, "InternalError", f"s3proxy: upstream failed: {e}")
        finally:
            conn.close()

    def relay(self, resp):
        self.status = resp.status
        self.send_response(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        for name, value in resp.getheaders():
            if name.lower() not in HOP_HEADERS and name.lower() != "date":
                self.send_header(name, value)
        # Without a length (never seen from s3rver, but cheap to handle) the body goes
        # out chunked so the client connection stays usable.
        rechunk = length is None and self.command != "HEAD" and resp.status not in (204, 304)
        if rechunk:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        while True:
            data = resp.read(BLOCK) if not rechunk else resp.read1(BLOCK)
            if not data:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if rechunk else data)
            self.bytes_out += len(data)
        if rechunk:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def answer(self, status, body, headers):
        self.status = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self.bytes_out += len(body)
        self.wfile.flush()

    def log_request_line(self):
        line = {"t": round(time.time(), 3), "method": self.command, "path": self.raw_path,
                "query": self.raw_query, "status": self.status, "bytes_in": self.body.count,
                "bytes_out": self.bytes_out, "fault": self.fault, "sig": self.sig}
        self.cfg.log(line)


# ---------------------------------------------------------------- main ------

class Config:
    def __init__(self, args):
        self.upstream_host, _, port = args.upstream.rpartition(":")
        self.upstream_port = int(port)
        self.allow_anonymous = args.allow_anonymous
        self.debug = args.debug
        self.faults = Faults(args.faults)
        self.spool_dir = args.spool_dir
        self.store = args.store
        self.store_api = Store(args.store) if args.store else None
        self.min_part = args.min_part_size
        self.keys = {"S3RVER": "S3RVER"}
        if args.keys:
            with open(args.keys) as f:
                for line in f:
                    words = line.split()
                    if len(words) == 2 and not words[0].startswith("#"):
                        self.keys[words[0]] = words[1]
        self.log_lock = threading.Lock()
        self.log_file = open(args.log, "a", buffering=1) if args.log else None

    def log(self, line):
        if self.log_file:
            with self.log_lock:
                self.log_file.write(json.dumps(line) + "\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of s3rver")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    ap.add_argument("--port-file", help="write the port chosen here once listening")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--faults", help="JSON fault rules, re-read on every request")
    ap.add_argument("--keys", help="more credentials: 'ACCESS_KEY SECRET' per line")
    ap.add_argument("--store", help="s3rver's store directory (enables ListMultipartUploads, "
                                    "ListParts and AbortMultipartUpload)")
    ap.add_argument("--min-part-size", type=int, default=5 << 20,
                    help="smallest part but the last that CompleteMultipartUpload accepts "
                         "(S3: 5 MiB; 0 for tests with tiny parts)")
    ap.add_argument("--spool-dir", help="where bodies above 8 MiB are spooled")
    ap.add_argument("--allow-anonymous", action="store_true")
    ap.add_argument("--debug", action="store_true", help="print canonical requests that fail")
    args = ap.parse_args()
    Proxy.cfg = Config(args)
    server = Server(("127.0.0.1", args.port), Proxy)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{server.server_address[1]}\n")
        os.replace(tmp, args.port_file)   # readers never see a half-written port
    server.serve_forever()


if __name__ == "__main__":
    main()
