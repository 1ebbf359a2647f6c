#!/usr/bin/env python3
"""A stand-in for Google Cloud Storage's authentication, on one port of 127.0.0.1.

    gcsdouble.py --public-key PUB.pem [--backend URL] [--port N] [--port-file FILE]
                 [--log FILE] [--lifetime S] [--email ADDR]... [--audience URL]...
                 [--skew S] [--token-faults N]

  POST /token       OAuth2's JWT-bearer grant (RFC 7523), as oauth2.googleapis.com
                    speaks it: the assertion's RS256 signature is checked with
                    the PUBLIC half of the service account's key, then iss
                    (--email, any address when none is given), aud (this
                    server's /token URL or an --audience), scope (devstorage or
                    cloud-platform), iat and exp (at most an hour apart, iat
                    not ahead of this clock by more than --skew).
  GET /computeMetadata/v1/...  a VM's metadata server: .../service-accounts/
                    default/token and .../email; "Metadata-Flavor: Google"
                    required (403 without), and sent back.
  anything else     the storage front: only "Authorization: Bearer T" for a
                    token issued here and not expired passes (401 with GCS's
                    XML error otherwise); the request is forwarded, body
                    streamed both ways, to --backend (an S3 server such as
                    s3rver) signed with AWS SigV4 for access key S3RVER.

Tokens live for --lifetime seconds (default 3600).  --token-faults N answers
the first N token requests (grant or metadata) with 503, for retry tests.

Each request is one JSON line in --log (default stderr); no line holds a
token, only token_id, the first 12 hex digits of its SHA-256.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPES = {"https://www.googleapis.com/auth/devstorage.read_write",
          "https://www.googleapis.com/auth/devstorage.full_control",
          "https://www.googleapis.com/auth/devstorage.read_only",
          "https://www.googleapis.com/auth/cloud-platform"}
METADATA = "/computeMetadata/v1/"
ACCOUNT = METADATA + "instance/service-accounts/default/"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "expect", "host", "authorization",
              "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"}
S3_KEY, S3_SECRET, S3_REGION = "S3RVER", "S3RVER", "us-east-1"
CHUNK = 64 * 1024


class GrantError(Exception):
    def __init__(self, error, description, reason):
        super().__init__(description)
        self.error, self.description, self.reason = error, description, reason


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_id(token):
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class Double:
    def __init__(self, args):
        self.args = args
        with open(args.public_key, "rb") as f:
            self.public_key = serialization.load_pem_public_key(f.read())
        if not isinstance(self.public_key, rsa.RSAPublicKey):
            raise SystemExit(f"{args.public_key}: not an RSA public key")
        self.tokens = {}              # token -> {"issued", "expires", "via", "iss"}
        self.lock = threading.Lock()
        self.faults_left = args.token_faults
        self.log_file = open(args.log, "a", buffering=1) if args.log else sys.stderr
        self.url = None               # set once the port is known
        backend = urllib.parse.urlsplit(args.backend) if args.backend else None
        self.backend = backend

    def log(self, **fields):
        line = json.dumps({"time": round(time.time(), 3), **fields}, sort_keys=True)
        with self.lock:
            self.log_file.write(line + "\n")

    def take_fault(self):
        with self.lock:
            if self.faults_left > 0:
                self.faults_left -= 1
                return True
            return False

    def issue(self, via, iss):
        token = "ya29.double-" + secrets.token_urlsafe(32)
        now = time.time()
        with self.lock:
            self.tokens[token] = {"issued": now, "expires": now + self.args.lifetime, "via": via,
                                  "iss": iss}
        return token

    def answer_for(self, token):
        return {"access_token": token, "expires_in": self.args.lifetime, "token_type": "Bearer"}

    def check_assertion(self, assertion):
        """The claims of a valid assertion, or GrantError."""
        parts = assertion.split(".")
        if len(parts) != 3:
            raise GrantError("invalid_grant", "Invalid JWT: not three parts.", "malformed")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except ValueError:
            raise GrantError("invalid_grant", "Invalid JWT: not base64url JSON.", "malformed")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise GrantError("invalid_grant", "Invalid JWT: not JSON objects.", "malformed")
        if header.get("alg") != "RS256":
            raise GrantError("invalid_grant", "Invalid JWT: algorithm must be RS256.", "alg")
        try:
            self.public_key.verify(signature, (parts[0] + "." + parts[1]).encode(),
                                   padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise GrantError("invalid_grant", "Invalid JWT Signature.", "bad signature")
        iss = claims.get("iss")
        if not isinstance(iss, str) or "@" not in iss or (self.args.email and
                                                          iss not in self.args.email):
            raise GrantError("invalid_grant", "Invalid grant: account not found", "iss")
        audiences = {self.url + "/token", *self.args.audience}
        if claims.get("aud") not in audiences:
            raise GrantError("invalid_grant", "Invalid JWT: Failed audience check.", "aud")
        scope = claims.get("scope")
        if not isinstance(scope, str) or not SCOPES & set(scope.split()):
            raise GrantError("invalid_scope", "Invalid OAuth scope or ID token audience "
                             "provided.", "scope")
        iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
        if (not isinstance(iat, int) or not isinstance(exp, int) or isinstance(iat, bool) or
                isinstance(exp, bool) or exp <= iat or exp - iat > 3600 or
                iat > now + self.args.skew or exp < now - self.args.skew):
            raise GrantError("invalid_grant", "Invalid JWT: Token must be a short-lived token "
                             "(60 minutes) and in a reasonable timeframe. Check your iat and exp "
                             "values in the JWT claim.", "iat/exp")
        return header, claims

    def check_bearer(self, authorization):
        """(reason, token record or None): reason "ok" when the token passes."""
        if not authorization:
            return "missing", None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "not bearer", None
        with self.lock:
            record = self.tokens.get(token.strip())
        if record is None:
            return "unknown", None
        if time.time() >= record["expires"]:
            return "expired", record
        return "ok", record


def sigv4(method, host, path, query, amz_date):
    """An AWS4-HMAC-SHA256 Authorization for the forwarded request."""
    date = amz_date[:8]
    pairs = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    canonical_query = "&".join(urllib.parse.quote(k, safe="-_.~") + "=" +
                               urllib.parse.quote(v, safe="-_.~") for k, v in pairs)
    signed = "host;x-amz-content-sha256;x-amz-date"
    canonical = "\n".join([method, path or "/", canonical_query, "host:" + host,
                           "x-amz-content-sha256:UNSIGNED-PAYLOAD", "x-amz-date:" + amz_date,
                           "", signed, "UNSIGNED-PAYLOAD"])
    scope = f"{date}/{S3_REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + S3_SECRET).encode()
    for part in (date, S3_REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"AWS4-HMAC-SHA256 Credential={S3_KEY}/{scope}, SignedHeaders={signed}, "
            f"Signature={signature}")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gcsdouble"
    double = None                     # set by main

    def log_message(self, fmt, *args):
        pass                          # our own JSON lines instead

    # ---- answering --------------------------------------------------------

    def send_body(self, status, body, content_type, extra=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status, obj, extra=()):
        self.send_body(status, json.dumps(obj), "application/json; charset=utf-8", extra)

    def read_body(self, limit=1 << 20):
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            self.close_connection = True
            return None
        return self.rfile.read(length)

    # ---- routing ------------------------------------------------------------

    def route(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/token":
            return self.grant if self.command == "POST" else self.not_here
        if path.startswith(METADATA):
            return self.metadata
        return self.storage

    def handle_expect_100(self):
        # A storage request whose credentials fail is answered before its
        # body comes, as GCS does.
        if self.route() == self.storage:
            reason, record = self.double.check_bearer(self.headers.get("Authorization"))
            if reason != "ok":
                self.close_connection = True
                self.refuse_storage(reason, record)
                return False
        return super().handle_expect_100()

    def dispatch(self):
        try:
            self.route()()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = dispatch

    def not_here(self):
        self.read_body()
        self.send_json(405, {"error": "method_not_allowed"})

    # ---- the token endpoint ---------------------------------------------------

    def grant(self):
        d = self.double
        body = self.read_body()
        if d.take_fault():
            d.log(kind="grant", status=503, reason="injected fault")
            return self.send_json(503, {"error": "internal_failure",
                                        "error_description": "Injected fault."})
        try:
            if body is None:
                raise GrantError("invalid_request", "Request too large.", "too large")
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                raise GrantError("invalid_request", "Bad Request", "content type " + ctype)
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            if form.get("grant_type") != [GRANT_TYPE]:
                raise GrantError("unsupported_grant_type", "Invalid grant_type: " +
                                 ",".join(form.get("grant_type", [])), "grant_type")
            assertions = form.get("assertion", [])
            if len(assertions) != 1:
                raise GrantError("invalid_request", "Missing required parameter: assertion",
                                 "no assertion")
            header, claims = d.check_assertion(assertions[0])
        except GrantError as e:
            d.log(kind="grant", status=400, error=e.error, reason=e.reason)
            return self.send_json(400, {"error": e.error, "error_description": e.description})
        token = d.issue("grant", claims["iss"])
        d.log(kind="grant", status=200, iss=claims["iss"], aud=claims["aud"],
              scope=claims["scope"], kid=header.get("kid"), iat=claims["iat"],
              exp=claims["exp"], lifetime=d.args.lifetime, token_id=token_id(token))
        self.send_json(200, d.answer_for(token), [("Cache-Control", "no-store")])

    # ---- the metadata server ----------------------------------------------------

    def metadata(self):
        d = self.double
        self.read_body()
        path = urllib.parse.urlsplit(self.path).path
        flavor = [("Metadata-Flavor", "Google")]
        if self.headers.get("Metadata-Flavor") != "Google":
            d.log(kind="metadata", path=path, status=403, reason="no Metadata-Flavor")
            return self.send_body(403, "Missing Metadata-Flavor:Google header.\n", "text/html",
                                  flavor)
        email = d.args.email[0] if d.args.email else "default@ferry-double.iam.gserviceaccount.com"
        if path == ACCOUNT + "token":
            if d.take_fault():
                d.log(kind="metadata", path=path, status=503, reason="injected fault")
                return self.send_body(503, "Injected fault.\n", "text/plain", flavor)
            token = d.issue("metadata", email)
            d.log(kind="metadata", path=path, status=200, lifetime=d.args.lifetime,
                  token_id=token_id(token))
            return self.send_json(200, d.answer_for(token), flavor)
        text = {ACCOUNT + "email": email,
                METADATA + "project/project-id": "ferry-double",
                METADATA + "instance": "attributes/\nhostname\nid\nservice-accounts/\n",
                METADATA + "instance/": "attributes/\nhostname\nid\nservice-accounts/\n",
                ACCOUNT: "aliases\nemail\nscopes\ntoken\n"}.get(path)
        d.log(kind="metadata", path=path, status=200 if text is not None else 404)
        if text is None:
            return self.send_body(404, "Not Found\n", "text/html", flavor)
        self.send_body(200, text, "application/text", flavor)

    # ---- the storage front --------------------------------------------------------

    def refuse_storage(self, reason, record):
        split = urllib.parse.urlsplit(self.path)
        age = round(time.time() - record["issued"], 3) if record else None
        self.double.log(kind="storage", method=self.command, path=split.path, query=split.query,
                        status=401, auth=reason, token_age=age)
        self.close_connection = True
        self.send_body(401, "<?xml version='1.0' encoding='UTF-8'?><Error><Code>"
                       "AuthenticationRequired</Code><Message>Authentication required."
                       "</Message></Error>", "application/xml; charset=UTF-8",
                       [("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')])

    def storage(self):
        d = self.double
        reason, record = d.check_bearer(self.headers.get("Authorization"))
        if reason != "ok":
            return self.refuse_storage(reason, record)
        if not d.backend:
            self.read_body()
            return self.send_json(501, {"error": "no --backend to forward to"})
        split = urllib.parse.urlsplit(self.path)
        status, sent, got = self.forward(split)
        d.log(kind="storage", method=self.command, path=split.path, query=split.query,
              status=status, auth="ok", token_age=round(time.time() - record["issued"], 3),
              bytes_in=sent, bytes_out=got)

    def forward(self, split):
        """Send the request on to the backend and its answer back: (status, in, out)."""
        backend = self.double.backend
        conn = http.client.HTTPConnection(backend.hostname, backend.port or 80, timeout=300)
        amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", backend.netloc)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                conn.putheader(name, value)
        conn.putheader("x-amz-date", amz_date)
        conn.putheader("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        conn.putheader("Authorization", sigv4(self.command, backend.netloc, split.path,
                                              split.query, amz_date))
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        length = int(self.headers.get("Content-Length") or 0)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        elif length or self.command in ("PUT", "POST", "PATCH"):
            conn.putheader("Content-Length", str(length))
        conn.endheaders()
        sent = self.relay_chunked(conn) if chunked else self.relay_length(conn, length)
        answer = conn.getresponse()
        got = self.relay_answer(answer)
        conn.close()
        return answer.status, sent, got

    def relay_length(self, conn, length):
        left = length
        while left > 0:
            data = self.rfile.read(min(CHUNK, left))
            if not data:
                raise ConnectionResetError("client went away mid-body")
            conn.send(data)
            left -= len(data)
        return length

    def relay_chunked(self, conn):
        sent = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                conn.send(b"0\r\n\r\n")
                return sent
            data = self.rfile.read(size)
            self.rfile.readline()
            conn.send(b"%x\r\n%s\r\n" % (len(data), data))
            sent += len(data)

    def relay_answer(self, answer):
        self.send_response(answer.status, answer.reason)
        length = answer.getheader("Content-Length")
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() not in ("date", "server"):
                self.send_header(name, value)
        has_body = self.command != "HEAD" and answer.status not in (204, 304)
        chunked = has_body and length is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        got = 0
        while has_body:
            data = answer.read(CHUNK)
            if not data:
                break
            got += len(data)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        return got


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--public-key", required=True, help="the service account key's public half (PEM)")
    p.add_argument("--backend", help="the S3 server storage requests go on to (http://HOST:PORT)")
    p.add_argument("--port", type=int, default=0, help="0: a free one")
    p.add_argument("--port-file", help="written with the port once it listens")
    p.add_argument("--log", help="JSON lines, one per request (default stderr)")
    p.add_argument("--lifetime", type=int, default=3600, help="seconds a token lives")
    p.add_argument("--email", action="append", default=[], help="an accepted iss (default: any)")
    p.add_argument("--audience", action="append", default=[],
                   help="an accepted aud besides this server's /token URL")
    p.add_argument("--skew", type=int, default=60, help="clock skew allowed for iat/exp")
    p.add_argument("--token-faults", type=int, default=0,
                   help="answer the first N token requests with 503")
    args = p.parse_args()
    Handler.double = Double(args)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    Handler.double.url = f"http://127.0.0.1:{port}"
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    print(Handler.double.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
