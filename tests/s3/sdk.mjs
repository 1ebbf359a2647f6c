// A small CLI on the official AWS SDK (@aws-sdk/client-s3), so tests can
// cross-check ferry against a reference client through the same proxy.
//
//   node sdk.mjs put DIR s3://BUCKET/PREFIX [--part-size BYTES]
//   node sdk.mjs sums s3://BUCKET[/PREFIX]      "SHA256  KEY" lines, like sha256sum
//   node sdk.mjs uploads s3://BUCKET            "KEY UPLOADID" per in-progress upload
//
// Endpoint, credentials and region come from the environment s3ctl.sh writes
// (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION).
import { createHash } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

// The SDK lives in ./npm/node_modules, next to this file, not beside the caller.
const require = createRequire(new URL("./npm/package.json", import.meta.url));
const {
  S3Client, PutObjectCommand, CreateMultipartUploadCommand, UploadPartCommand,
  CompleteMultipartUploadCommand, ListObjectsV2Command, GetObjectCommand,
  ListMultipartUploadsCommand,
} = require("@aws-sdk/client-s3");

const client = new S3Client({
  endpoint: process.env.AWS_ENDPOINT_URL,
  region: process.env.AWS_REGION || "us-east-1",
  forcePathStyle: true,
  // Plain SigV4 with a whole-body sha256, as ferry signs: newer SDKs would
  // otherwise add CRC32 checksums (and aws-chunked bodies for streams).
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
});

function parseUrl(url) {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url || "");
  if (!m) throw new Error(`not an s3:// URL: ${url}`);
  return { bucket: m[1], prefix: m[2] };
}

function joinKey(prefix, rel) {
  return prefix ? prefix.replace(/\/+$/, "") + "/" + rel : rel;
}

async function* walk(dir, rel = "") {
  const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) yield* walk(dir, r);
    else if (e.isFile()) yield r;
  }
}

async function readRange(file, start, length) {
  const fh = await fs.open(file, "r");
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, start);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function putFile(file, bucket, key, partSize) {
  const { size } = await fs.stat(file);
  if (size <= partSize) {
    const Body = await fs.readFile(file);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body }));
    return;
  }
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts = [];
  for (let n = 1, off = 0; off < size; n++, off += partSize) {
    const Body = await readRange(file, off, Math.min(partSize, size - off));
    const { ETag } = await client.send(new UploadPartCommand(
      { Bucket: bucket, Key: key, UploadId, PartNumber: n, Body }));
    parts.push({ ETag, PartNumber: n });
  }
  await client.send(new CompleteMultipartUploadCommand(
    { Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
}

async function put(dir, url, partSize) {
  const { bucket, prefix } = parseUrl(url);
  for await (const rel of walk(dir)) {
    await putFile(path.join(dir, rel), bucket, joinKey(prefix, rel), partSize);
  }
}

async function* listKeys(bucket, prefix) {
  let ContinuationToken;
  do {
    const page = await client.send(new ListObjectsV2Command(
      { Bucket: bucket, Prefix: prefix || undefined, ContinuationToken }));
    for (const o of page.Contents || []) yield o.Key;
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
}

async function sums(url) {
  const { bucket, prefix } = parseUrl(url);
  // Keys relative to PREFIX/, so the output diffs against sha256sum run in the
  // local directory.
  const base = prefix ? prefix.replace(/\/+$/, "") + "/" : "";
  const keys = [];
  for await (const key of listKeys(bucket, base)) keys.push(key);
  keys.sort();
  for (const key of keys) {
    const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const h = createHash("sha256");
    for await (const chunk of Body) h.update(chunk);
    process.stdout.write(`${h.digest("hex")}  ${key.slice(base.length)}\n`);
  }
}

async function uploads(url) {
  const { bucket, prefix } = parseUrl(url);
  let KeyMarker, UploadIdMarker;
  do {
    const page = await client.send(new ListMultipartUploadsCommand(
      { Bucket: bucket, Prefix: prefix || undefined, KeyMarker, UploadIdMarker }));
    for (const u of page.Uploads || []) process.stdout.write(`${u.Key} ${u.UploadId}\n`);
    KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (KeyMarker);
}

async function main(argv) {
  const [cmd, ...args] = argv;
  const i = args.indexOf("--part-size");
  let partSize = 8 << 20;
  if (i >= 0) {
    partSize = Number(args[i + 1]);
    args.splice(i, 2);
  }
  if (cmd === "put" && args.length === 2) return put(args[0], args[1], partSize);
  if (cmd === "sums" && args.length === 1) return sums(args[0]);
  if (cmd === "uploads" && args.length === 1) return uploads(args[0]);
  console.error("usage: node sdk.mjs put DIR s3://BUCKET/PREFIX [--part-size BYTES]\n" +
                "       node sdk.mjs sums s3://BUCKET[/PREFIX]\n" +
                "       node sdk.mjs uploads s3://BUCKET");
  process.exit(2);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`sdk.mjs: ${err.name}: ${err.message}`);
  process.exit(1);
});
