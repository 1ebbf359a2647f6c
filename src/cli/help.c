/* ferry --help and ferry COMMAND --help: the prose is here, the options come
 * from the table in options.c, so a command lists exactly the ones it takes. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char overview_head[] =
"usage: ferry [global options] COMMAND [ARGS]\n"
"\n"
"Move datasets between cluster scratch and where they live, as one program\n"
"under mpirun or srun (or as a single process).\n"
"\n"
"commands:\n"
"  plan  SRC DST     what get/put/sync would do; changes nothing\n"
"  get   SRC DST     copy SRC into the local directory DST\n"
"  put   SRC DST     copy the local directory SRC to DST\n"
"  sync  SRC DST     like put, then delete what DST has and SRC lacks\n"
"  verify DIR --against SRC  is every file of SRC in DIR, whole, and nothing else?\n"
"  extract ARCHIVE...|DIR -C DEST  unpack tar, tar.gz/zst/xz/bz2 and zip archives\n"
"  embed INPUT... --out FILE.h5  image embeddings into one HDF5 file\n"
"  knn FILE.h5 [-k K]  exact nearest neighbours of those embeddings, into the file\n"
"  run JOB.json      a pipeline of these commands, resumable phase by phase\n"
"  status DIR|JOB.json|FILE.h5  who holds a destination, how its last run ended,\n"
"                    what a rerun skips; per phase of a job, what is done and what\n"
"                    remains; rows done in an embeddings file\n"
"  locks DIR         show the lock on a destination (--cleanup removes a stale one)\n"
"  targets           the config's SSH targets, their classes and options\n"
"  init [FILE]       write a commented config template (targets, roots)\n"
"\n"
"locations: a local path or file:// URL; hf://datasets/OWNER/NAME[@REV][/PATH]\n"
"(models hf://OWNER/NAME, spaces hf://spaces/OWNER/NAME); s3://BUCKET[/PREFIX]\n"
"(AWS S3 or an S3-compatible store, see --endpoint); gs://BUCKET[/PREFIX]\n"
"(Google Cloud Storage); ssh://[USER@]HOST[:PORT]/PATH or [USER@]HOST:PATH\n"
"(an SSH host over SFTP, ~/.ssh/config and known_hosts as ssh reads them); an\n"
"http(s):// URL; @FILE, a manifest in aria2's input format; or a name from the\n"
"config file.  Hub repositories, buckets and SSH hosts are also destinations\n"
"of put and sync; http(s) URLs are sources only.\n"
"\n"
"environment: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, HF_TOKEN_PATH, HF_HOME (the\n"
"token, sent to the Hub's own origin only); HF_ENDPOINT (another Hub);\n"
"HF_HUB_OFFLINE=1 (refuse any network use).  s3://: AWS_ACCESS_KEY_ID,\n"
"AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or AWS_PROFILE with ~/.aws/credentials\n"
"and ~/.aws/config (region, endpoint_url, addressing_style); AWS_REGION;\n"
"AWS_ENDPOINT_URL.  gs://: GOOGLE_APPLICATION_CREDENTIALS (a service account's\n"
"key), GCE_METADATA_HOST (a cloud VM's metadata server, also found by itself),\n"
"or HMAC keys GS_ACCESS_KEY_ID and GS_SECRET_ACCESS_KEY (or ~/.boto);\n"
"STORAGE_EMULATOR_HOST.  Keys and tokens go to their own endpoint only and are\n"
"never printed.\n";

static const char overview_tail[] =
"\n"
"exit status: 0 all done; 1 finished, some items failed; 2 usage or config\n"
"error; 3 authentication or permission; 4 not found; 5 pre-flight check failed\n"
"(disk space, lock held, not writable); 75 interrupted, rerun to resume.\n";

static const char transfer_notes[] =
"Hidden directories (.git, .cache, .ferry) are never transferred.  A file is\n"
"unchanged when its size and modification time match; for a Hub source (or a\n"
"manifest with checksums), when DST/.ferry/catalog says ferry fetched that\n"
"content and the file's size and time are still those ferry gave it.  Each\n"
"file is written as NAME.ferry-part, checked (sha256 for LFS files, the git\n"
"blob sha1 for other Hub files, a manifest's sha-256 checksum, else the size)\n"
"and renamed into place; a mismatch is fetched once more, then fails.  The\n"
"journal in DST/.ferry lets a rerun of the same command skip what was done,\n"
"with any number of ranks.\n";

struct command_help {
    const char *name;
    const char *usage;
    const char *what;
    bool transfer;
};

static const struct command_help commands[] = {
    {"plan", "ferry plan [options] SRC DST",
     "Print what get or put would do and change nothing; with --delete, also\n"
     "what sync would delete.\n", true},
    {"get", "ferry get [options] SRC DST\n"
            "       ferry get [options] hf://... --hf-cache [DIR]",
     "Copy the selected scenes of SRC into the local directory DST.\n"
     "SRC is a local directory, hf://datasets/OWNER/NAME[@REV][/PATH] (the\n"
     "revision is resolved to a commit once, so a push during the run cannot mix\n"
     "versions; a PATH that names a file lands as DST/BASENAME), a bucket\n"
     "(s3://BUCKET/PREFIX or gs://BUCKET/PREFIX: listed once, its folders over\n"
     "ranks; big objects in ranged GETs over ranks, checked against their MD5\n"
     "ETag; files get the objects' upload time), an http(s)://\n"
     "URL, or @MANIFEST: aria2's input format, a URL per line with TAB-separated\n"
     "mirrors tried in turn, and indented dir=, out= and checksum=sha-256=HEX\n"
     "lines (file:// URLs allowed; hf:// lines too).  Failed requests are retried\n"
     "with backoff and resumed with Range; 401/403/404 are final.  Redirects are\n"
     "followed (at most 10, http(s) only).  A manifest URL that cannot be sized\n"
     "fails the run (exit 1); an empty manifest exits 2.\n"
     "`ferry get NAME` copies the config's remote NAME into its root NAME.\n"
     "\n"
     "--hf-cache [DIR] (or --hf-cache=DIR) writes a Hub repository in the Hugging\n"
     "Face cache layout instead of a plain tree, so that transformers, datasets,\n"
     "huggingface_hub and @huggingface/hub load it offline: DIR/datasets--OWNER--NAME\n"
     "/blobs/HASH holds each content once, snapshots/COMMIT/PATH are relative\n"
     "symlinks to the blobs, and refs/REV names the commit once all is in place.\n"
     "DIR defaults to the cache those tools use ($HF_HUB_CACHE, $HF_HOME/hub or\n"
     "~/.cache/huggingface/hub).  ferry's journal, lock and part files stay in\n"
     "DIR/datasets--OWNER--NAME/.ferry.\n"
     "\n"
     "--extract DIR extracts each archive (by its suffix: .tar, .tar.gz, .tar.zst,\n"
     "...) into DIR as soon as it is downloaded and checked, while the rest still\n"
     "downloads, as `ferry extract` would (same safety, same journal\n"
     "DIR/.ferry/extract/extracted); archives fetched earlier but not yet\n"
     "extracted are extracted too.  The archives stay in DST.\n", true},
    {"put", "ferry put [options] SRC DST",
     "Copy the selected scenes of the local directory SRC to DST.\n"
     "`ferry put NAME` copies the config's root NAME to its remote NAME.\n"
     "\n"
     "To a Hub repository (hf://datasets/OWNER/NAME[@BRANCH][/PATH]): every\n"
     "selected file is hashed (in parallel over ranks; SRC/.ferry/push/hashes\n"
     "keeps the hashes for the next run) and only files whose content differs\n"
     "from the branch are uploaded: LFS objects go straight to storage from\n"
     "every rank (multipart parts spread over ranks), objects the Hub already\n"
     "holds are not sent again, and rank 0 commits scene by scene on top of the\n"
     "branch head, regular files inline.  A commit whose answer is lost is\n"
     "checked against the branch, never sent twice.\n"
     "\n"
     "To a bucket (s3://BUCKET/PREFIX, gs://BUCKET/PREFIX): an object of the same\n"
     "size no older than the file is current (what `aws s3 sync` compares).\n"
     "Objects up to --chunk-size go in one PUT, bigger ones as multipart uploads\n"
     "whose parts every rank sends and rank 0 completes (aborted when a part\n"
     "cannot be sent).  Each answer's ETag is checked against the MD5 of the bytes\n"
     "sent.  A run killed mid-upload leaves the upload open; the rerun sends only\n"
     "the parts the store does not hold.\n"
     "\n"
     "To an SSH host (ssh://[USER@]HOST[:PORT]/PATH or [USER@]HOST:PATH, HOST an\n"
     "address or a ~/.ssh/config alias): keys from ssh-agent and the config's\n"
     "IdentityFile or ~/.ssh/id_*, never a password; an unknown or changed host\n"
     "key is refused (exit 3) with its fingerprint.  The host is listed once; a\n"
     "file of the same size and mtime is current.  Each rank runs up to 8 SFTP\n"
     "connections; files above --chunk-size go in parts written at their offsets\n"
     "into NAME.ferry-part by any rank, then rank 0 sets the mode and mtime and\n"
     "renames it into place.  A dropped connection is opened again and the\n"
     "transfer goes on from its last byte.  See also --target.\n", true},
    {"sync", "ferry sync [options] SRC DST\n"
             "       ferry sync [options] [SRC] --target NAME [--target NAME2] [--watch]",
     "Like put, then delete files under the selected scenes of DST that SRC lacks.\n"
     "Nothing is deleted in a scene that could not be read completely, or that is\n"
     "empty or missing on the source side.\n"
     "\n"
     "To config targets (`ferry targets`, `ferry init`): each --target (or the\n"
     "config's default_target when no DST is given) gets each of its path classes\n"
     "(--only picks some) from the config's root of the class's name, or from SRC\n"
     "for one class; the plan of each target and class is shown in turn.  A\n"
     "target's latest_only sends only the highest of versioned siblings\n"
     "(model:v1 model:v2, ckpt_v3, epoch=3; --all-versions sends all), max_depth\n"
     "leaves deeper files out, parallel_transfers sets --connections, and\n"
     "check_remote_first false sends every selected file without comparing.\n"
     "What the selection leaves out is never deleted on the target (nor any\n"
     "versioned name under latest_only).  --watch syncs again every SECONDS\n"
     "(60), sending a file once it has not changed for that long, until SIGINT\n"
     "or SIGTERM (to mpirun: SIGUSR1): exit 0 between rounds, 75 in one.\n", true},
    {"targets", "ferry targets [--json]",
     "List the config's SSH targets: host, user and port, the options\n"
     "(latest_only, max_depth, parallel_transfers, check_remote_first), and per\n"
     "path class the folder on the host and the local root it is sent from.  The\n"
     "default target is marked.\n", false},
    {"init", "ferry init [FILE]",
     "Write a commented config template (roots, two targets, default_target) to\n"
     "FILE, else --config, $FERRY_CONFIG or ~/.config/ferry/config.json.  An\n"
     "existing file is never overwritten (exit 2).  Keys named \"//\" are comments.\n",
     false},
    {"status", "ferry status [--json] DIR\n"
               "       ferry status JOB.json\n"
               "       ferry status [--json] FILE.h5",
     "Read the state ferry keeps in the destination DIR (DIR/.ferry, or --state-dir):\n"
     "the lock's holder, how the last get/put/sync ended (files and bytes done of\n"
     "those planned, failures), and the files and chunks the journal holds, which\n"
     "a rerun of the same command will not copy again.  Changes nothing.\n"
     "For a job spec: each phase, done (and when) or to do, and for those to do\n"
     "what is already there (journalled files, archives extracted, rows done).\n"
     "For an embeddings file: rows done of N, the embedder and D, and knn's rows\n"
     "done (or that knn has not run).\n", false},
    {"verify", "ferry verify DIR --against SRC\n"
               "       ferry verify DIR --spec SPEC.json",
     "Compare the local directory DIR with SRC's listing: report files missing\n"
     "from DIR, extra in DIR, and corrupt (wrong size, or content that does not\n"
     "hash to SRC's sha256 / git sha1).  Hashing is spread over all ranks.\n"
     "Exit 0 when all match, 1 when anything is missing, extra or corrupt.\n"
     "\n"
     "--spec SPEC.json checks the dataset's structure instead: required files and\n"
     "folders, JSON-lines files whose every line parses (the first bad line\n"
     "numbers are named), and counts that must agree (records in a JSON-lines\n"
     "file and files in a folder); a line per check, exit 1 when any fails.  The\n"
     "format is in docs/guide.md.\n", false},
    {"extract", "ferry extract [options] ARCHIVE...|DIR -C DEST",
     "Extract archives (tar, tar.gz, tar.zst, tar.xz, tar.bz2, zip; a DIR means the\n"
     "archives in it) into DEST with libarchive, largest first, each to the next\n"
     "rank that asks; a zip bigger than 32 MiB is cut into parts by its entries\n"
     "(its central directory), so several ranks share it.  Progress (archive\n"
     "bytes, archives, entries) covers all ranks.  Entries with '..' or an\n"
     "absolute path, symlinks and hardlinks\n"
     "that lead outside DEST, device nodes, FIFOs and sockets are refused with a\n"
     "line naming the archive and the entry; no folder on the way to an entry is\n"
     "followed if it is a symlink, so nothing is written outside DEST; setuid and\n"
     "setgid bits are dropped.  Each file is written as NAME.ID.ferry-part (ID\n"
     "names the archive) and renamed.  A rerun skips archives that\n"
     "DEST/.ferry/extract/extracted has as done, and entries that exist with the\n"
     "same size and mtime.  A corrupt archive fails alone (exit 1); so does an\n"
     "entry that cannot be written (a name too long) or fails its CRC, while the\n"
     "rest is extracted.  One run per DEST at a time (DEST/.ferry/extract/lock,\n"
     "exit 5).  SIGINT or SIGTERM stops cleanly (exit 75; to mpirun itself send\n"
     "SIGUSR1, which it forwards); the same command resumes.\n", false},
    {"embed", "ferry embed [options] INPUT... --out FILE.h5",
     "Embed every image of the INPUTs (folders, walked recursively, or archives:\n"
     "tar, tar.gz, tar.zst, tar.xz, tar.bz2, zip, read without extracting; archives\n"
     "in a folder are read too) into FILE.h5 (its folder made), written by all ranks with parallel HDF5: paths, embeddings\n"
     "float32 [N, D], status (1 ok, 2 undecodable) and done uint8 [N], and the\n"
     "embedder, D, seed, weights' sha256 and ferry's version as attributes.\n"
     "Images are files named .jpg, .jpeg, .png, .gif, .bmp, .webp, .tif or .tiff;\n"
     "JPEG and PNG are decoded, anything else or a damaged image is undecodable\n"
     "(its row says so, the summary says why).  Rows are committed every few\n"
     "seconds (flushed, then marked done), so a killed run, restarted with any\n"
     "number of ranks, computes only the rest; the file is the same whatever the\n"
     "number of ranks.  A file made with another embedder, D, seed, weights or\n"
     "list of images is refused unless --overwrite.\n", false},
    {"knn", "ferry knn [options] FILE.h5",
     "The exact k nearest neighbours of every row of FILE.h5 (made by ferry\n"
     "embed), by blocked GEMM over all ranks, re-ranked in double precision,\n"
     "written into the file: knn/indices int64 [N, K] and knn/distances float32\n"
     "[N, K], nearest first, ties to the smaller index.  Undecodable rows have\n"
     "none (-1, inf) and are nobody's neighbour.  Resumable like embed; a rerun\n"
     "with the same K and metric computes nothing.\n", false},
    {"run", "ferry run JOB.json",
     "Run a pipeline: the job spec (JSON) lists phases, each a ferry command line\n"
     "([\"get\", SRC, DST], [\"embed\", ...]), settings given to every phase, and\n"
     "after_phase steps run after each one.  A finished phase leaves a marker\n"
     "(STATE/phase-NN.done, STATE being the spec's state_dir or .ferry-run/NAME\n"
     "beside it), so a restarted job skips what is done and resumes inside the\n"
     "first phase that is not; an edited phase runs again.  SIGTERM, SIGINT or\n"
     "SIGUSR1 stop cleanly with exit 75.  `ferry status JOB.json` shows each\n"
     "phase's state.  The format is in docs/guide.md.\n", false},
    {"locks", "ferry locks [--cleanup] [--force] DIR",
     "Show who holds the lock on the destination DIR.  --cleanup removes it if\n"
     "its holder is a dead process on this host or it is older than the TTL\n"
     "(config lock_ttl, default 24 h); with --force, whatever holds it.  Whether a\n"
     "holder on another host still runs cannot be told: --cleanup --force clears\n"
     "it.  A run of the same Slurm job (a requeue) takes over its own lock.\n", false},
};

bool help_exists(const char *command)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, command) == 0)
            return true;
    return false;
}

/* "  -C, --directory DEST  where ...", the help's further lines aligned under its first. */
static void print_option(FILE *out, const struct cli_option *o)
{
    enum { COLUMN = 28 };
    char head[96];
    int n = o->short_name && o->name ? snprintf(head, sizeof head, "  -%c, --%s", o->short_name,
                                                 o->name)
          : o->short_name ? snprintf(head, sizeof head, "  -%c", o->short_name)
                          : snprintf(head, sizeof head, "      --%s", o->name);
    if (o->arg)
        snprintf(head + n, sizeof head - (size_t)n, "%s%s", o->kind == CLI_OPTIONAL || o->kind == CLI_OPTIONAL_SECONDS ? "" : " ",
                 o->arg);
    fputs(head, out);
    int width = (int)strlen(head);
    for (const char *line = o->help; *line;) {
        size_t len = strcspn(line, "\n");
        if (width >= COLUMN) {
            fputc('\n', out);
            width = 0;
        }
        fprintf(out, "%*s%.*s\n", COLUMN - width, "", (int)len, line);
        width = 0;
        line += len + (line[len] == '\n');
    }
}

/* The table's options that command takes (-1: the global ones). */
static void print_options(FILE *out, int command)
{
    size_t n;
    const struct cli_option *options = cli_options(&n);
    for (size_t i = 0; i < n; i++) {
        bool global = cli_option_global(&options[i]);
        if (command < 0 ? global : !global && (options[i].commands & CLI_BIT(command)))
            print_option(out, &options[i]);
    }
}

bool help_print(FILE *out, const char *command)
{
    if (!command) {
        fputs(overview_head, out);
        fputs("\nglobal options (every command takes them):\n", out);
        print_options(out, -1);
        fputs(overview_tail, out);
        return true;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(commands[i].name, command) != 0)
            continue;
        fprintf(out, "usage: %s\n\n%s", commands[i].usage, commands[i].what);
        int c = cli_command_find(command);
        size_t n;
        const struct cli_option *options = cli_options(&n);
        bool any = false;
        for (size_t j = 0; j < n; j++)
            any = any || (!cli_option_global(&options[j]) && (options[j].commands & CLI_BIT(c)));
        if (any) {
            fputs("\noptions:\n", out);
            print_options(out, c);
        }
        if (commands[i].transfer)
            fprintf(out, "\n%s", transfer_notes);
        fprintf(out, "\nGlobal options are in `ferry --help`.\n");
        return true;
    }
    return false;
}
