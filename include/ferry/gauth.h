/* Google OAuth2 access tokens for gs:// buckets, found the way Google's own
 * tools find credentials:
 *   1. GOOGLE_APPLICATION_CREDENTIALS naming a service account's key file
 *      (JSON, type "service_account"): a JWT signed with its private key is
 *      traded for a token at the file's token_uri (RFC 7523 JWT-bearer grant);
 *   2. otherwise the metadata server of a Google Cloud VM, at
 *      GCE_METADATA_HOST (default metadata.google.internal), asked with
 *      "Metadata-Flavor: Google".  Where GCE_METADATA_HOST is not set, a
 *      short probe (1 s to connect, 2 s in all) must find a server that
 *      names the VM's service account first, so a machine outside Google
 *      Cloud spends no more than that on finding none.
 *
 * A token is cached and renewed once less than min(300 s, a third of its
 * lifetime) is left, so a long run never sends an expired one.
 *
 * The private key, the signed JWT and the token are secrets: never logged,
 * never in an error message, wiped before their memory is freed. */
#ifndef FERRY_GAUTH_H
#define FERRY_GAUTH_H

#include <stddef.h>
#include "ferry/err.h"

/* The scope a token is asked for: read and write objects. */
#define GAUTH_SCOPE "https://www.googleapis.com/auth/devstorage.read_write"

struct gauth;

/* Find credentials as above; no token is asked for yet.  *out NULL with
 * rc 0 when there are none (the caller goes anonymous or uses HMAC keys).
 * A key file that is unreadable, not JSON, of another type, or whose key
 * does not parse is an error naming the file and the cause. */
int gauth_open(struct gauth **out, struct ferry_error *err);

/* Credentials from the text of a key file (len bytes; file names it in
 * messages).  Pure, no I/O: for gauth_open, the unit test and the fuzzer. */
int gauth_from_key(const char *text, size_t len, const char *file, struct gauth **out,
                   struct ferry_error *err);

/* Credentials from the metadata server at host ("HOST[:PORT]"), not probed. */
struct gauth *gauth_from_metadata(const char *host);

/* A valid access token (*token stays good until the next call or
 * gauth_close) and when it expires (seconds since the epoch).  Blocks
 * (net_run) while one is fetched, retrying transport failures and 5xx: for
 * use between transfers.  Calls net_init. */
int gauth_token(struct gauth *g, const char **token, long long *expires_at,
                struct ferry_error *err);

/* "service account NAME@... (FILE)" or "the metadata server at HOST", for messages. */
const char *gauth_describe(const struct gauth *g);

/* Wipes the key and the token, and frees.  g may be NULL. */
void gauth_close(struct gauth *g);

/* The signed assertion: header {"alg":"RS256","typ":"JWT","kid":key_id}
 * (no kid when key_id is NULL or ""), claims {"iss","scope","aud","iat":now,
 * "exp":now+3600}, base64url without padding, RS256 with the RSA key in
 * key_pem.  *jwt is fresh; free it with gauth_wipe_free.  Pure. */
int gauth_make_jwt(const char *client_email, const char *key_pem, const char *key_id,
                   const char *scope, const char *audience, long long now, char **jwt,
                   struct ferry_error *err);

/* A token endpoint's 200 answer {"access_token","expires_in","token_type"}
 * (len bytes, no NUL needed) into *token (fresh; gauth_wipe_free) and
 * *expires_at = now + expires_in.  Anything else is an error that never
 * quotes the token.  Pure. */
int gauth_parse_token_answer(const char *body, size_t len, long long now, char **token,
                             long long *expires_at, struct ferry_error *err);

/* Overwrite a secret string and free it; NULL is fine. */
void gauth_wipe_free(char *s);

#endif
