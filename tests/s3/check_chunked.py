#!/usr/bin/env python3
"""Checks s3proxy.py's aws-chunked handling, which no installed reference client
exercises fully (awscli never sends signed chunks; the JS SDK sends unsigned
chunks with a CRC32 trailer).  Builds the requests by hand, after the AWS docs
("Signature Calculations for the Authorization Header: Transferring Payload in
Multiple Chunks").  Run with s3ctl.sh's env sourced; exit 1 on a failure."""

import base64
import hashlib
import hmac
import http.client
import os
import struct
import sys
import time
import urllib.parse
import zlib

EMPTY = hashlib.sha256(b"").hexdigest()
url = urllib.parse.urlsplit(os.environ["AWS_ENDPOINT_URL"])
store = os.environ["S3_STORE"]
failures = []
run = f"chunked-{os.getpid()}/"   # fresh keys: a store may be reused


def key_for(date):
    k = ("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode()
    for part in (date, "us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def put(key, chunks, payload, trailer=None, corrupt=None):
    """PUT chunks as aws-chunked; returns the HTTP status.  corrupt: 'sig' spoils
    the second chunk's signature, 'crc' the CRC32 trailer."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    date = amz_date[:8]
    scope = f"{date}/us-east-1/s3/aws4_request"
    total = sum(len(c) for c in chunks)
    host = url.netloc
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date,
               "x-amz-decoded-content-length": str(total), "content-encoding": "aws-chunked"}
    if trailer:
        headers["x-amz-trailer"] = trailer
    names = sorted(headers)
    canonical = "\n".join(["PUT", f"/ferry-test/{key}", "",
                           "".join(f"{n}:{headers[n]}\n" for n in names),
                           ";".join(names), payload])
    sk = key_for(date)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    seed = hmac.new(sk, sts.encode(), hashlib.sha256).hexdigest()
    signed = payload.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body, prev = b"", seed
    for i, data in enumerate(list(chunks) + [b""]):
        ext = ""
        if signed:
            s = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY,
                           hashlib.sha256(data).hexdigest()])
            prev = hmac.new(sk, s.encode(), hashlib.sha256).hexdigest()
            ext = ";chunk-signature=" + (("0" * 64) if corrupt == "sig" and i == 1 else prev)
        body += b"%x%s\r\n%s\r\n" % (len(data), ext.encode(), data)
    if trailer:
        crc = zlib.crc32(b"".join(chunks)) ^ (1 if corrupt == "crc" else 0)
        body = body[:-2] + f"{trailer}:{base64.b64encode(struct.pack('>I', crc)).decode()}\r\n\r\n".encode()
    conn = http.client.HTTPConnection(url.hostname, url.port)
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={os.environ['AWS_ACCESS_KEY_ID']}/{scope},"
                                f"SignedHeaders={';'.join(names)},Signature={seed}")
    headers["content-length"] = str(len(body))
    conn.request("PUT", f"/ferry-test/{key}", body=body, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def stored(key):
    try:
        with open(f"{store}/ferry-test/{key}._S3rver_object", "rb") as f:
            return f.read()
    except OSError:
        return None


def check(name, ok):
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        failures.append(name)


chunks = [os.urandom(65536), os.urandom(65536), os.urandom(1000)]
whole = b"".join(chunks)
check("signed chunks: 200, stored decoded",
      put(run + "signed", chunks, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 200
      and stored(run + "signed") == whole)
check("bad chunk signature: 403, not stored",
      put(run + "badsig", chunks, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", corrupt="sig") == 403
      and stored(run + "badsig") is None)
check("unsigned chunks + crc32 trailer: 200, stored decoded",
      put(run + "trailer", chunks, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
          trailer="x-amz-checksum-crc32") == 200 and stored(run + "trailer") == whole)
check("bad crc32 trailer: 400, not stored",
      put(run + "badcrc", chunks, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
          trailer="x-amz-checksum-crc32", corrupt="crc") == 400
      and stored(run + "badcrc") is None)
sys.exit(1 if failures else 0)
