/* Token lookup order and whitespace handling. */
#include "check.h"
#include "ferry/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int found(const char *want, const char *want_origin)
{
    const char *origin = NULL;
    char *t = token_find(&origin);
    int ok = want ? t && strcmp(t, want) == 0 && origin && strstr(origin, want_origin)
                  : t == NULL;
    token_free(t);
    return ok;
}

int main(void)
{
    char home[] = "/tmp/ferry-test-token-XXXXXX";
    mkdtemp(home);
    unsetenv("HF_TOKEN");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    unsetenv("HF_TOKEN_PATH");
    unsetenv("XDG_CACHE_HOME");
    setenv("HF_HOME", home, 1);
    CHECK(found(NULL, NULL));

    char path[256];
    snprintf(path, sizeof path, "%s/token", home);
    FILE *f = fopen(path, "w");
    fputs("  hf_from_file\n\n", f);
    fclose(f);
    CHECK(found("hf_from_file", "/token"));

    setenv("HUGGING_FACE_HUB_TOKEN", "hf_old_name", 1);
    CHECK(found("hf_old_name", "HUGGING_FACE_HUB_TOKEN"));
    setenv("HF_TOKEN", " hf_first\n", 1);
    CHECK(found("hf_first", "HF_TOKEN"));
    setenv("HF_TOKEN", "   ", 1);          /* blank: fall through */
    CHECK(found("hf_old_name", "HUGGING_FACE_HUB_TOKEN"));

    unsetenv("HF_TOKEN");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    char other[256];
    snprintf(other, sizeof other, "%s/elsewhere", home);
    f = fopen(other, "w");
    fputs("hf_elsewhere", f);
    fclose(f);
    setenv("HF_TOKEN_PATH", other, 1);
    CHECK(found("hf_elsewhere", "elsewhere"));
    unlink(other);
    unlink(path);
    rmdir(home);
    return check_summary("test_token");
}
