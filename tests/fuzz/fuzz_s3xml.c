/* What an S3-compatible store answers, read by xmlscan (ListObjectsV2 pages,
 * ListParts, ListMultipartUploads, errors) and the INI reader used for
 * ~/.aws and ~/.boto.  The first byte picks which: even, the input is an
 * answer walked as s3.c walks a listing; odd, an INI text looked up. */
#include "fuzz.h"

#include "ferry/ini.h"
#include "ferry/xmlscan.h"

/* Decoding never grows a text: it fits in what it was read from. */
static void check_text(char *s, size_t from)
{
    if (s)
        FUZZ_CHECK(strlen(s) <= from);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] % 2 == 1) {
        check_text(ini_get(text, len, "default", "aws_access_key_id"), len);
        check_text(ini_get(text, len, "profile x", "region"), len);
        return 0;
    }
    size_t pos = 0, at, n;
    int guard = 0;
    while (xml_element(text, len, &pos, "Contents", &at, &n) && guard++ < 10000) {
        FUZZ_CHECK(at + n <= len && pos <= len);
        check_text(xml_text(text + at, n, "Key"), n);
        check_text(xml_text(text + at, n, "ETag"), n);
    }
    pos = 0;
    while (xml_element(text, len, &pos, "CommonPrefixes", &at, &n) && guard++ < 20000)
        check_text(xml_text(text + at, n, "Prefix"), n);
    check_text(xml_text(text, len, "NextContinuationToken"), len);
    check_text(xml_text(text, len, "Code"), len);
    return 0;
}
