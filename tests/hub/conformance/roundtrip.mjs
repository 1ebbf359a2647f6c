// The official client on the other end of ferry's uploads:
//   node roundtrip.mjs list HUB OWNER/NAME          every file of the dataset, downloaded
//                                                   through @huggingface/hub, as
//                                                   {"path", "size", "sha256"} JSON lines
//   node roundtrip.mjs upload HUB OWNER/NAME DIR    create the dataset (private) and upload
//                                                   every file under DIR with uploadFiles
//                                                   (Xet off), in one commit
// The token is HF_TOKEN from the environment, never an argument.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { createRepo, downloadFile, listFiles, uploadFiles } from "@huggingface/hub";

const [mode, hubUrl, name, dir] = process.argv.slice(2);
const accessToken = process.env.HF_TOKEN;
const common = { repo: { type: "dataset", name }, accessToken, hubUrl };

function walk(root, at = root, out = []) {
  for (const entry of readdirSync(at, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const path = join(at, entry.name);
    if (entry.isDirectory()) walk(root, path, out);
    else out.push(relative(root, path));
  }
  return out;
}

if (mode === "list") {
  for await (const entry of listFiles({ ...common, recursive: true })) {
    if (entry.type !== "file") continue;
    const blob = await downloadFile({ ...common, path: entry.path });
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    console.log(JSON.stringify({ path: entry.path, size: bytes.length, sha256 }));
  }
} else if (mode === "upload") {
  await createRepo({ ...common, private: true });
  const files = walk(dir).map((path) => ({ path, content: new Blob([readFileSync(join(dir, path))]) }));
  await uploadFiles({ ...common, useXet: false, files });
} else {
  console.error("usage: roundtrip.mjs list|upload HUB OWNER/NAME [DIR]");
  process.exit(2);
}
