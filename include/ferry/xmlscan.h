/* Just enough XML for S3's answers (ListObjectsV2, ListParts,
 * ListMultipartUploads, CreateMultipartUpload, errors): elements are found
 * by name, without attributes, namespaces or nesting of the same name, and
 * their text is entity-decoded.  Anything malformed simply is not found.
 * Pure: no I/O, any bytes accepted. */
#ifndef FERRY_XMLSCAN_H
#define FERRY_XMLSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* The next <tag>...</tag> (or <tag attr="...">) at or after *pos in
 * [body, body + len): its content's offset and length; *pos moves past its
 * end.  False when there is none. */
bool xml_element(const char *body, size_t len, size_t *pos, const char *tag,
                 size_t *content, size_t *content_len);

/* The decoded text of the first <tag> in [body, body + len), as a fresh
 * string; NULL when absent.  "&amp;" "&lt;" "&gt;" "&quot;" "&apos;" and
 * numeric references are decoded; a reference to NUL or an unknown one
 * makes the text NULL, so a name never hides a byte it did not show. */
char *xml_text(const char *body, size_t len, const char *tag);

#endif
