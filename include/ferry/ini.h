/* Reading the INI files other tools keep their settings in: ~/.aws/credentials,
 * ~/.aws/config, ~/.boto.  "[section]" lines open a section; "key = value"
 * lines (spaces around either allowed, also indented sub-keys such as
 * config's "s3 =\n  addressing_style = path") belong to the last section;
 * lines starting with '#' or ';' are comments.  Pure: no I/O. */
#ifndef FERRY_INI_H
#define FERRY_INI_H

#include <stddef.h>

/* key's value in section (the whole text between the brackets, trimmed),
 * as a fresh string; NULL when absent.  The last of repeated keys wins. */
char *ini_get(const char *text, size_t len, const char *section, const char *key);

/* A whole file, at most 1 MiB, NUL-terminated, in a fresh buffer; NULL when
 * it cannot be read (a missing file is the usual case and no error).  Never
 * follows a link at its last component. */
char *ini_load(const char *path, size_t *len);

#endif
