#!/usr/bin/env bash
# HTTP sources that redirect, fail or lie (issue 17): every redirect status
# is followed (relative, to another origin, in planning and in transfer),
# at most 10 hops; a redirect never reaches file:// or leaves the config's
# allowed_prefixes, even when only the GET redirects; a file:// source's mode
# caps its copy's; a manifest that cannot be listed fully is an error naming
# each URL; and a manifest served under 503s, resets and stalls arrives whole.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netlib.sh"

www=$WORK/www
mkdir -p "$www/pub" "$www/private"
for i in 1 2 3 4 5 6; do head -c $((20000 + i)) /dev/urandom > "$www/f$i.bin"; done
head -c $((3 * 1024 * 1024 + 7)) /dev/urandom > "$www/big.bin"
: > "$www/empty.bin"
printf 'top secret\n' > "$WORK/secret"
chmod 600 "$WORK/secret"
# HEAD answers 200 from these files; only a GET is redirected.
cp "$WORK/secret" "$www/sneaky.bin"
cp "$WORK/secret" "$www/pub/jump.bin"
cp "$WORK/secret" "$www/private/jump.bin"
# Relative redirects of every kind, one to another origin (localhost is not
# 127.0.0.1), an endless loop, files that refuse HEAD, and GET-only
# redirects to file:// and out of pub/.
NGINX_EXTRA='
    location ~ ^/r301/(.*)$ { return 301 /$1; }
    location ~ ^/r302/(.*)$ { return 302 /$1; }
    location ~ ^/r303/(.*)$ { return 303 /$1; }
    location ~ ^/r307/(.*)$ { return 307 /$1; }
    location ~ ^/r308/(.*)$ { return 308 /$1; }
    location ~ ^/other/(.*)$ { return 302 http://localhost:$server_port/r307/$1; }
    location /loop/ { return 302 /loop/; }
    location ~ ^/nohead/(.*)$ { if ($request_method = HEAD) { return 405; } alias '"$www"'/$1; }
    location = /sneaky.bin { if ($request_method = GET) { return 302 file://'"$WORK"'/secret; } }
    location = /pub/jump.bin { if ($request_method = GET) { return 302 /private/jump.bin; } }
'
start_nginx "$www"
ACCESS=$NGINX_PREFIX/logs/access.log
get() { ferry_np 1 get --yes --progress never "$@"; }
lacks() { ! grep -q "$1" "$2"; }

# --- redirects are followed ----------------------------------------------------
printf '%s/r301/f1.bin\n%s/r302/f2.bin\n%s/r303/f3.bin\n%s/r307/f4.bin\n%s/r308/f5.bin\n%s/other/f6.bin\n' \
  "$WEB" "$WEB" "$WEB" "$WEB" "$WEB" "$WEB" > "$WORK/redirects.txt"
may_fail get "@$WORK/redirects.txt" "$WORK/red" > "$WORK/red.out" 2>&1
check "301, 302, 303, 307, 308 and another origin: exit 0 ($status)" test "$status" -eq 0
n=0
for i in 1 2 3 4 5; do cmp -s "$WORK/red/f$i.bin" "$www/f$i.bin" && n=$((n + 1)); done
check "the five files behind 30x are right ($n)" test "$n" -eq 5
check "the one on another origin too" cmp "$WORK/red/f6.bin" "$www/f6.bin"

may_fail ferry_np 2 get --yes -q --progress never --chunk-size 1m "$WEB/other/big.bin" "$WORK/bigred"
check "a chunked file behind two redirects, -np 2: exit 0 ($status)" test "$status" -eq 0
check "arrives whole" cmp "$WORK/bigred/big.bin" "$www/big.bin"

# A server that refuses HEAD (a URL signed for GET) is asked for one byte.
printf '%s/nohead/f1.bin\n%s/r302/nohead/empty.bin\n' "$WEB" "$WEB" > "$WORK/nohead.txt"
may_fail get "@$WORK/nohead.txt" "$WORK/nohead" > "$WORK/nohead.out" 2>&1
check "HEAD refused: exit 0 ($status)" test "$status" -eq 0
check "the file arrives" cmp "$WORK/nohead/f1.bin" "$www/f1.bin"
check "and an empty one" test -f "$WORK/nohead/empty.bin" -a ! -s "$WORK/nohead/empty.bin"

may_fail get "$WEB/loop/x.bin" "$WORK/loop" > "$WORK/loop.out" 2>&1
check "an endless redirect fails: exit 1 ($status)" test "$status" -eq 1
check "after at most 10 hops" grep -q "more than 10 redirects" "$WORK/loop.out"
check "11 requests in all, no more" test "$(grep -cE '(HEAD|GET) /loop/' "$ACCESS")" -eq 11

# --- never to file://, never out of allowed_prefixes ----------------------------
may_fail get "$WEB/sneaky.bin" "$WORK/sneaky" > "$WORK/sneaky.out" 2>&1
check "a GET redirected to file:// fails: exit 1 ($status)" test "$status" -eq 1
check "saying so" grep -q "which is not http(s): refused" "$WORK/sneaky.out"
check "the secret was not copied" test ! -e "$WORK/sneaky/sneaky.bin"

printf '{"allowed_prefixes": ["%s/pub/"]}\n' "$WEB" > "$WORK/allowed.json"
may_fail get --config "$WORK/allowed.json" "$WEB/pub/jump.bin" "$WORK/jump" > "$WORK/jump.out" 2>&1
check "a redirect out of allowed_prefixes fails: exit 1 ($status)" test "$status" -eq 1
check "naming the prefixes" grep -q "not under any of the config's allowed_prefixes" "$WORK/jump.out"
check "nothing was asked outside them" test "$(grep -c '/private/' "$ACCESS")" -eq 0
check "nothing was written" test ! -e "$WORK/jump/jump.bin"

# --- a file:// source is never copied more open than it is ---------------------
printf 'file://%s/secret\n' "$WORK" > "$WORK/local.txt"
may_fail get -q "@$WORK/local.txt" "$WORK/local"
check "a file:// line of the user's manifest: exit 0 ($status)" test "$status" -eq 0
check "copied" cmp "$WORK/local/secret" "$WORK/secret"
check "with mode 600, as its source ($(stat -c %a "$WORK/local/secret"))" \
  test "$(stat -c %a "$WORK/local/secret")" = 600

# --- what cannot be listed is an error ------------------------------------------
: > "$WORK/empty.txt"
may_fail get "@$WORK/empty.txt" "$WORK/empty" > "$WORK/empty.out" 2>&1
check "an empty manifest: exit 2 ($status)" test "$status" -eq 2
check "naming it" grep -q "empty.txt: the manifest lists no URL" "$WORK/empty.out"

# (An unreachable host fails the same way, after the retries a transfer gets.)
printf '%s/missing1.bin\n%s/missing2.bin\n' "$WEB" "$WEB" > "$WORK/dead.txt"
may_fail get "@$WORK/dead.txt" "$WORK/dead" > "$WORK/dead.out" 2>&1
check "a manifest whose URLs all fail: exit 1 ($status)" test "$status" -eq 1
check "not 'nothing to do'" lacks "nothing to do" "$WORK/dead.out"
for u in "$WEB/missing1.bin: not found (HTTP 404)" "$WEB/missing2.bin: not found (HTTP 404)"; do
  check "names $u" grep -qF "$u" "$WORK/dead.out"
done

printf '%s/f1.bin\n%s/missing1.bin\n' "$WEB" "$WEB" > "$WORK/half.txt"
may_fail get "@$WORK/half.txt" "$WORK/half" > "$WORK/half.out" 2>&1
check "one of two URLs fails: exit 1 ($status)" test "$status" -eq 1
check "the other arrives" cmp "$WORK/half/f1.bin" "$www/f1.bin"

# --- a manifest under faults: 503s, resets, stalls (cut after 1 s) --------------
# 64 files, so that at 5 % some 503 is all but certain (no 503 in ~150 answers: 0.05 %).
start_hub '{"lfs_threshold": 65536, "seed": 4}'
make_repo web "$WORK/web.jsonl" --scenes 1 --files 64 --sizes '16k:70%,300k:30%' --seed 3
python3 - "$WORK/web.jsonl" "$HUB" > "$WORK/faulty.txt" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    path = json.loads(line)["path"]
    print(f"{sys.argv[2]}/datasets/alice/web/resolve/main/{path}\n  out={path}")
PY
hub_faults '{"error_rate": 0.05, "error_codes": [503], "reset_rate": 0.05, "cdn_reset_rate": 0.05,
             "stall_rate": 0.03, "stall_ms": 3000}'
printf '{"stall_timeout": 1}\n' > "$WORK/stall.json"
may_fail ferry_np 2 get --config "$WORK/stall.json" --yes -q --progress never \
  "@$WORK/faulty.txt" "$WORK/faulty" > "$WORK/faulty.out" 2>&1
check "a manifest under 503s, resets and stalls: exit 0 ($status)" test "$status" -eq 0
check "every file is right" matches_manifest "$WORK/faulty" "$WORK/web.jsonl"
check "503s were injected" test "$(hub_count status=503)" -gt 0

finish
