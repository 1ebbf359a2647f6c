// Drives the official @huggingface/hub client against ferry's test hub:
// create a repo, upload small, LFS (basic) and LFS (multipart) files, list
// over several pages, download one file, snapshot the repo into a cache
// directory, delete files.  Every byte read back must equal what was written.
// Usage: node conformance.mjs HUB_URL CACHE_DIR
import { createRepo, deleteFiles, downloadFile, listFiles, snapshotDownload, uploadFiles } from "@huggingface/hub";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

const [hubUrl, cacheDir] = process.argv.slice(2);
const accessToken = "hf_test_alice";
const repo = { type: "dataset", name: "alice/conformance" };
const common = { repo, accessToken, hubUrl };
let failures = 0;

function check(what, ok) {
  console.log(`${ok ? "ok" : "FAILED"}: ${what}`);
  if (!ok) failures++;
}

// Deterministic bytes, so a failure reproduces.
function bytes(n, seed) {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 16;
  }
  return out;
}

const sha256 = (data) => createHash("sha256").update(data).digest("hex");
const files = new Map();
for (let i = 0; i < 230; i++) files.set(`scene_${i % 3}/frame_${String(i).padStart(4, "0")}.txt`, new TextEncoder().encode(`frame ${i}\n`));
files.set("scene_0/weights.bin", bytes(3 * 1024 * 1024, 1));      // LFS by its binary sample, basic PUT
files.set("scene_1/video.mp4", bytes(12 * 1024 * 1024 + 17, 2));  // LFS, multipart (5 MiB parts)
files.set("scene_2/empty.txt", new Uint8Array(0));

await createRepo({ ...common, private: true });
check("createRepo", true);
await uploadFiles({
  ...common,
  useXet: false,
  files: [...files].map(([path, data]) => ({ path, content: new Blob([data]) })),
});
check("uploadFiles with small, LFS basic and LFS multipart files", true);

const listed = [];
for await (const entry of listFiles({ ...common, recursive: true })) listed.push(entry);
const listedFiles = listed.filter((e) => e.type === "file");
check(`listFiles over several pages sees every file (${listedFiles.length})`, listedFiles.length === files.size + 1);
const lfsEntry = listedFiles.find((e) => e.path === "scene_1/video.mp4");
check("an LFS entry carries its sha256 and size",
  lfsEntry?.lfs?.oid === sha256(files.get("scene_1/video.mp4")) && lfsEntry?.size === files.get("scene_1/video.mp4").length);

for (const path of ["scene_0/frame_0000.txt", "scene_1/video.mp4", "scene_0/weights.bin"]) {
  const blob = await downloadFile({ ...common, path });
  const got = new Uint8Array(await blob.arrayBuffer());
  check(`downloadFile ${path}`, sha256(got) === sha256(files.get(path)));
}

const snapshot = await snapshotDownload({ ...common, cacheDir });
let same = 0;
for (const [path, data] of files) {
  const got = await readFile(join(snapshot, path));
  if (sha256(got) === sha256(data)) same++;
}
check(`snapshotDownload: ${same} of ${files.size} files byte-identical`, same === files.size);

await deleteFiles({ ...common, paths: ["scene_0/weights.bin", "scene_2/frame_0002.txt"] });
const after = [];
for await (const entry of listFiles({ ...common, recursive: true })) if (entry.type === "file") after.push(entry.path);
check("deleteFiles removed exactly two files",
  after.length === files.size - 1 && !after.includes("scene_0/weights.bin"));

console.log(`conformance: ${failures ? "FAILED" : "passed"}`);
process.exit(failures ? 1 : 0);
