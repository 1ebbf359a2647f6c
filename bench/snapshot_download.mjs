// The peer for bench/get_hub.sh: @huggingface/hub's snapshotDownload of a
// whole dataset repository into a cache folder.
//   node bench/snapshot_download.mjs HUB_MODULE HUB_URL OWNER/NAME CACHE_DIR
// HUB_MODULE is the path of the pinned package's dist/index.mjs.
const [module, hubUrl, name, cacheDir] = process.argv.slice(2);
const { snapshotDownload } = await import(module);
await snapshotDownload({ repo: { type: "dataset", name }, hubUrl, cacheDir });
