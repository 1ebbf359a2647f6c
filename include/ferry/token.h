/* The Hugging Face token, found as the official clients find it:
 * HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the file at HF_TOKEN_PATH
 * (default $HF_HOME/token; HF_HOME defaults to $XDG_CACHE_HOME/huggingface,
 * else ~/.cache/huggingface).  Surrounding whitespace is stripped.
 *
 * The token is a secret: it lives in one buffer that is wiped on free, and is
 * never logged, put in an error message, or passed on a command line. */
#ifndef FERRY_TOKEN_H
#define FERRY_TOKEN_H

#include <stddef.h>

/* A fresh copy of the token, or NULL when there is none.  *origin (if not
 * NULL) names where it came from, for messages ("HF_TOKEN", a file path). */
char *token_find(const char **origin);

/* Overwrite and free. */
void token_free(char *token);

#endif
