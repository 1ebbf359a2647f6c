/* The two small readers the S3 backend needs: xmlscan for the store's
 * answers and ini for ~/.aws/credentials, ~/.aws/config and ~/.boto. */
#include "check.h"
#include "ferry/ini.h"
#include "ferry/xmlscan.h"

#include <stdlib.h>
#include <string.h>

static bool text_is(char *got, const char *want)
{
    bool same = got && want ? strcmp(got, want) == 0 : got == NULL && want == NULL;
    if (!same)
        fprintf(stderr, "  got '%s', want '%s'\n", got ? got : "(null)", want ? want : "(null)");
    free(got);
    return same;
}

static void test_listing(void)
{
    const char *page =
        "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><IsTruncated>true</IsTruncated>"
        "<Contents><Key>p/a &amp; b.bin</Key><Size>3</Size>"
        "<ETag>&quot;3b5d5c3712955042212316173ccf37be&quot;</ETag></Contents>"
        "<Contents><Key>p/caf&#xE9;&#47;x</Key><Size>0</Size></Contents>"
        "<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>"
        "<NextContinuationToken>1/a+b=</NextContinuationToken></ListBucketResult>";
    size_t len = strlen(page), pos = 0, at, n;
    CHECK(xml_element(page, len, &pos, "Contents", &at, &n));
    CHECK(text_is(xml_text(page + at, n, "Key"), "p/a & b.bin"));
    CHECK(text_is(xml_text(page + at, n, "ETag"), "\"3b5d5c3712955042212316173ccf37be\""));
    CHECK(xml_element(page, len, &pos, "Contents", &at, &n));
    CHECK(text_is(xml_text(page + at, n, "Key"), "p/caf\xc3\xa9/x"));
    CHECK(text_is(xml_text(page + at, n, "ETag"), NULL));
    CHECK(!xml_element(page, len, &pos, "Contents", &at, &n));
    CHECK(text_is(xml_text(page, len, "NextContinuationToken"), "1/a+b="));
    CHECK(text_is(xml_text(page, len, "IsTruncated"), "true"));
    /* The root's attribute does not hide it; a longer name is another tag. */
    pos = 0;
    CHECK(xml_element(page, len, &pos, "ListBucketResult", &at, &n));
    CHECK(text_is(xml_text(page, len, "Content"), NULL));
}

static void test_hostile(void)
{
    /* A NUL by reference, an unknown entity, an unterminated element or
     * reference: not found, never a shortened name. */
    const char *nul = "<Key>a&#0;b</Key>", *unknown = "<Key>a&nbsp;b</Key>";
    CHECK(text_is(xml_text(nul, strlen(nul), "Key"), NULL));
    CHECK(text_is(xml_text(unknown, strlen(unknown), "Key"), NULL));
    const char *open = "<Key>abc", *amp = "<Key>a&amp</Key>", *big = "<Key>&#x110000;</Key>";
    CHECK(text_is(xml_text(open, strlen(open), "Key"), NULL));
    CHECK(text_is(xml_text(amp, strlen(amp), "Key"), NULL));
    CHECK(text_is(xml_text(big, strlen(big), "Key"), NULL));
    const char *empty = "<Key/><Key>x</Key>";
    CHECK(text_is(xml_text(empty, strlen(empty), "Key"), ""));
    /* A raw NUL inside the text (the length says where it ends). */
    const char raw[] = "<Key>a\0b</Key>";
    CHECK(text_is(xml_text(raw, sizeof raw - 1, "Key"), NULL));
}

static void test_ini(void)
{
    const char *creds = "[default]\naws_access_key_id = AKDEFAULT\n"
                        "aws_secret_access_key=SECRET1\n\n"
                        "# a comment = not a key\n[ ferry ]\r\naws_access_key_id\t=  AKFERRY \r\n"
                        "; aws_secret_access_key = commented\n"
                        "[profile ferry]\nregion = eu-west-1\ns3 =\n  addressing_style = path\n"
                        "[default]\nregion = us-east-2\nregion = us-west-1\n";
    size_t len = strlen(creds);
    CHECK(text_is(ini_get(creds, len, "default", "aws_access_key_id"), "AKDEFAULT"));
    CHECK(text_is(ini_get(creds, len, "default", "aws_secret_access_key"), "SECRET1"));
    CHECK(text_is(ini_get(creds, len, "ferry", "aws_access_key_id"), "AKFERRY"));
    CHECK(text_is(ini_get(creds, len, "ferry", "aws_secret_access_key"), NULL));
    CHECK(text_is(ini_get(creds, len, "profile ferry", "region"), "eu-west-1"));
    CHECK(text_is(ini_get(creds, len, "profile ferry", "addressing_style"), "path"));
    /* A section met twice adds to itself; the last value wins. */
    CHECK(text_is(ini_get(creds, len, "default", "region"), "us-west-1"));
    CHECK(text_is(ini_get(creds, len, "nobody", "region"), NULL));
    const char *broken = "[open\nkey = v\n[x]\nkey";
    CHECK(text_is(ini_get(broken, strlen(broken), "open", "key"), NULL));
    CHECK(text_is(ini_get(broken, strlen(broken), "x", "key"), NULL));
}

int main(void)
{
    test_listing();
    test_hostile();
    test_ini();
    return check_summary("test_s3text");
}
