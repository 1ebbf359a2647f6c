// Reads a repository that ferry wrote with --hf-cache back through
// @huggingface/hub's own cache functions, with the network forbidden:
//   node read_cache.mjs CACHE_DIR OWNER/NAME COMMIT REF MANIFEST.jsonl [PREFIX]
// MANIFEST has a {"path", "sha256"} object per line (make_fixture.py's output);
// with PREFIX, only the files under PREFIX/ are expected.  REF "-" expects none.
// Prints one "ok:" line per check; exits 1 on the first failure.
import { createHash } from "node:crypto";
import { readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { downloadFileToCacheDir, scanCacheDir } from "@huggingface/hub";

const [cacheDir, name, commit, ref, manifestPath, prefix] = process.argv.slice(2);
const fail = (msg) => {
	console.error(`FAIL: ${msg}`);
	process.exit(1);
};
const noNetwork = async (url) => fail(`the cache was not enough: a request for ${url}`);

let expected = readFileSync(manifestPath, "utf-8")
	.split("\n")
	.filter((line) => line.trim())
	.map((line) => JSON.parse(line));
if (prefix) expected = expected.filter((f) => f.path.startsWith(prefix + "/"));

const info = await scanCacheDir(cacheDir);
if (info.warnings.length) fail(`scanCacheDir warnings: ${info.warnings.map((w) => w.message).join("; ")}`);
const repo = info.repos.find((r) => r.id.type === "dataset" && r.id.name === name);
if (!repo) fail(`scanCacheDir does not list dataset ${name}`);
const revision = repo.revisions.find((r) => r.commitOid === commit);
if (!revision) fail(`no revision ${commit} in ${repo.revisions.map((r) => r.commitOid)}`);
const wantRefs = ref === "-" ? [] : [ref];
if (JSON.stringify(revision.refs) !== JSON.stringify(wantRefs))
	fail(`refs of ${commit}: ${JSON.stringify(revision.refs)}, expected ${JSON.stringify(wantRefs)}`);
console.log(`ok: scanCacheDir lists ${name} at ${commit.slice(0, 12)} with refs ${JSON.stringify(wantRefs)}`);

const blobs = join(realpathSync(repo.path), "blobs");
for (const file of expected) {
	const pointer = await downloadFileToCacheDir({
		repo: { type: "dataset", name },
		path: file.path,
		revision: commit,
		cacheDir,
		fetch: noNetwork,
	});
	const digest = createHash("sha256").update(readFileSync(pointer)).digest("hex");
	if (digest !== file.sha256) fail(`${file.path}: sha256 ${digest}, expected ${file.sha256}`);
	if (!realpathSync(pointer).startsWith(blobs + "/")) fail(`${file.path}: ${pointer} is not a link into blobs/`);
}
console.log(`ok: downloadFileToCacheDir read ${expected.length} files from the cache alone, every sha256 right`);
