/* What every fuzz target shares.  A target is one fuzz_NAME.c defining
 * LLVMFuzzerTestOneInput; it is linked with libFuzzer (FERRY_FUZZ=ON, clang)
 * or with driver.c, which runs it once per file for the CI regression. */
#ifndef FERRY_FUZZ_H
#define FERRY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The parsers take C strings: the input up to its first NUL, in a block of
 * its own so that AddressSanitizer sees a read past the end. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

/* A broken invariant is a finding: abort so that the fuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif
