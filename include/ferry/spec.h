/* Checking a dataset's structure against a spec (ferry verify DIR --spec).
 *
 * The spec is JSON; every key is optional:
 *   {
 *     "required": ["metadata.jsonl", "images/"],      files, and folders (a trailing '/')
 *     "jsonl": ["metadata.jsonl", "prompts/p-*.jsonl"],  every line of these parses
 *     "counts": [                                      counts that must agree
 *       {"records": "metadata.jsonl", "files": "images/", "pattern": "*.jpg"}
 *     ]
 *   }
 * "jsonl" entries are patterns over paths relative to DIR ('*' does not
 * cross '/'); a pattern that matches nothing fails.  A count compares the
 * non-empty lines of a JSON-lines file with the files under a folder
 * (recursively) whose name matches "pattern" (default "*"). */
#ifndef FERRY_SPEC_H
#define FERRY_SPEC_H

#include <stdio.h>
#include "ferry/err.h"

/* Run every check of the spec file against dir, printing a line per check
 * ("ok: ..." or "FAIL: ...") to out.  *failed gets the failed checks.
 * Returns 0, or an error when the spec itself cannot be used. */
int spec_check(const char *dir, const char *spec_path, FILE *out, int *failed,
               struct ferry_error *err);

#endif
