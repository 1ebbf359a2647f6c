/* Names from outside made printable: control bytes, escape sequences and
 * invalid UTF-8 escaped; plain text and valid UTF-8 untouched. */
#include "check.h"
#include "ferry/escape.h"

#include <string.h>

static int same(const char *in, size_t len, const char *want)
{
    char out[256];
    size_t n = escape_display_into(out, sizeof out, in, len);
    if (n != strlen(out) || strcmp(out, want) != 0) {
        fprintf(stderr, "got '%s', want '%s'\n", out, want);
        return 0;
    }
    return 1;
}

#define SAME(lit, want) CHECK(same(lit, sizeof lit - 1, want))

int main(void)
{
    SAME("plain/name-1.txt", "plain/name-1.txt");
    SAME("odd name \xc3\xbc.txt", "odd name \xc3\xbc.txt");            /* UTF-8 stays */
    SAME("\xe6\x97\xa5\xf0\x9f\x98\x80", "\xe6\x97\xa5\xf0\x9f\x98\x80");
    SAME("a\nb\tc\rd", "a\\nb\\tc\\rd");
    SAME("back\\slash", "back\\\\slash");
    SAME("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m");
    SAME("nul\0after", "nul\\x00after");
    SAME("del\x7f", "del\\x7f");
    SAME("bad\xff.txt", "bad\\xff.txt");                            /* not UTF-8 */
    SAME("cut\xc3", "cut\\xc3");                                    /* a sequence cut short */
    SAME("\xc0\xaf", "\\xc0\\xaf");                                 /* overlong '/' */
    SAME("\xed\xa0\x80", "\\xed\\xa0\\x80");                        /* a surrogate */
    SAME("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");               /* above U+10FFFF */
    SAME("csi\xc2\x9b" "2J", "csi\\xc2\\x9b2J");                    /* C1 control U+009B */
    SAME("\xe2\x80\xaegpj.exe", "\\xe2\\x80\\xaegpj.exe");          /* right-to-left override */
    SAME("\xe2\x80\x94", "\xe2\x80\x94");                           /* an em dash stays */

    char small[8];
    CHECK(escape_display_into(small, sizeof small, "ab\ncd", 5) == 6 &&
          strcmp(small, "ab\\ncd") == 0);
    CHECK(escape_display_into(small, sizeof small, "abcdef\n", 7) == 6 &&
          strcmp(small, "abcdef") == 0);                            /* no half escape */
    CHECK(escape_display_into(small, 1, "x", 1) == 0 && small[0] == '\0');

    const char *one = escape_display("x\ny"), *two = escape_display("\x1b");
    CHECK(strcmp(one, "x\\ny") == 0 && strcmp(two, "\\x1b") == 0);  /* both still valid */
    char big[3000];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(strlen(escape_display(big)) == 2 * (sizeof big - 1));
    CHECK(strcmp(escape_display(NULL), "(null)") == 0);
    return check_summary("test_escape");
}
