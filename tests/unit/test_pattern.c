/* The Hub's pattern rules: Python fnmatch, '*' crossing '/', folders. */
#include "check.h"
#include "ferry/pattern.h"

int main(void)
{
    CHECK(pattern_match("*.txt", "a/b.txt"));          /* '*' crosses '/' */
    CHECK(pattern_match("*.txt", "b.txt"));
    CHECK(!pattern_match("*.txt", "b.txt.gz"));
    CHECK(pattern_match("a?c", "a/c"));                 /* so does '?' */
    CHECK(pattern_match("data/", "data/x/y.bin"));      /* a folder */
    CHECK(!pattern_match("data/", "database.bin"));
    CHECK(!pattern_match("data/", "data"));
    CHECK(pattern_match("scene_0[0-4]/*", "scene_03/f"));
    CHECK(!pattern_match("scene_0[0-4]/*", "scene_07/f"));
    CHECK(pattern_match("[!a]*", "b/x"));
    CHECK(!pattern_match("[!a]*", "a/x"));
    CHECK(pattern_match("[]]x", "]x"));                 /* ']' first is literal */
    CHECK(pattern_match("[x", "[x"));                   /* unclosed '[' is literal */
    CHECK(!pattern_match("README", "docs/README"));     /* no wildcard: whole path */
    CHECK(pattern_match("README", "README"));
    CHECK(!pattern_match("*.TXT", "a.txt"));            /* case-sensitive */
    CHECK(pattern_match("**", ""));
    CHECK(pattern_match("a*b*c", "a/x/b/y/c"));
    CHECK(!pattern_match("a*b*c", "a/x/b/y/d"));

    struct pattern_filter f = {0};
    CHECK(pattern_filter_allows(&f, "anything"));
    pattern_filter_include(&f, "*.bin");
    pattern_filter_include(&f, "*.json");
    pattern_filter_exclude(&f, "*/misc/");
    CHECK(pattern_filter_allows(&f, "s1/a.bin"));
    CHECK(pattern_filter_allows(&f, "s1/meta.json"));
    CHECK(!pattern_filter_allows(&f, "s1/notes.txt"));   /* matches no include */
    CHECK(!pattern_filter_allows(&f, "s1/misc/a.bin"));  /* excluded folder */
    pattern_filter_free(&f);
    CHECK(f.n_includes == 0 && f.includes == NULL);
    return check_summary("test_pattern");
}
