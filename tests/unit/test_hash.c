/* sha256 and git blob sha1 against values git and sha256sum give. */
#include "check.h"
#include "ferry/hash.h"

#include <string.h>

int main(void)
{
    char sha256[HASH_SHA256_HEX], sha1[HASH_SHA1_HEX];

    /* `printf 'hello world\n' | git hash-object --stdin`, and sha256sum. */
    struct hash_state *h = hash_begin(12);
    hash_update(h, "hello ", 6);
    hash_update(h, "world\n", 6);
    hash_end(h, sha256, sha1);
    CHECK(strcmp(sha1, "3b18e512dba79e4c8300dd08aeb37f8e728b8dad") == 0);
    CHECK(strcmp(sha256, "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447") == 0);

    /* The empty blob every git user has seen. */
    h = hash_begin(0);
    hash_end(h, sha256, sha1);
    CHECK(strcmp(sha1, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391") == 0);
    CHECK(strcmp(sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);

    struct ferry_error err = {0};
    CHECK(hash_file("/nonexistent/ferry", sha256, sha1, &err) == FERRY_EFAIL);
    CHECK(strstr(err.msg, "/nonexistent/ferry") != NULL);
    return check_summary("test_hash");
}
