/* Where a token may go: its own origin as libcurl reads URLs, never a URL
 * that only looks like it; what a redirect may name; file:// paths. */
#include "check.h"
#include "ferry/net.h"
#include "ferry/xalloc.h"

#include <stdlib.h>
#include <string.h>

static bool goes_to(const char *base, const char *url)
{
    struct net_auth a = {0};
    net_auth_set(&a, xstrdup("hf_test_secret"), base);
    bool yes = net_auth_applies(&a, url);
    net_auth_clear(&a);
    return yes;
}

/* One header line, as libcurl hands it over. */
static void header(struct net_headers *h, const char *line)
{
    net_parse_header(h, line, strlen(line));
}

int main(void)
{
    const char *hub = "https://huggingface.co";
    CHECK(goes_to(hub, "https://huggingface.co/api/datasets/a/b/tree/main"));
    CHECK(goes_to(hub, "https://HuggingFace.CO:443/api/whoami-v2"));
    CHECK(goes_to("http://127.0.0.1:8080", "http://127.0.0.1:8080/x?y=1"));
    CHECK(!goes_to(hub, "http://huggingface.co/api/whoami-v2"));
    CHECK(!goes_to(hub, "https://huggingface.co:8443/api"));
    CHECK(!goes_to(hub, "https://cdn-lfs.huggingface.co/repos/x"));
    CHECK(!goes_to(hub, "https://huggingface.co@evil.example/api"));
    CHECK(!goes_to(hub, "https://huggingface.co.evil.example/api"));
    CHECK(!goes_to(hub, "https://evil.example/https://huggingface.co/"));
    CHECK(!goes_to(hub, "file:///etc/passwd"));
    CHECK(!goes_to(hub, "not a url"));
    CHECK(!goes_to("not a url", "not a url"));
    CHECK(!net_auth_applies(NULL, hub));

    struct net_auth none = {0};
    net_auth_set(&none, NULL, hub);
    CHECK(!net_auth_applies(&none, hub));

    CHECK(net_is_http("http://a/b") && net_is_http("HTTPS://a/b"));
    CHECK(!net_is_http("file:///etc/passwd") && !net_is_http("ftp://a/b") && !net_is_http("/x"));

    char *path = net_file_path("file:///tmp/a%20b/c.txt");
    CHECK(path && strcmp(path, "/tmp/a b/c.txt") == 0);
    free(path);
    CHECK(net_file_path("https://a/b") == NULL);

    struct net_headers h = {0};
    const char link[] = "Link: <https://other.example/api/x?cursor=abc>; rel=\"next\"\r\n";
    header(&h, link);
    CHECK(h.link_next && strcmp(h.link_next, "https://other.example/api/x?cursor=abc") == 0);
    header(&h, "HTTP/1.1 200 OK\r\n");
    CHECK(h.link_next == NULL);

    /* Counts a server sends: negative, too big or a date are none. */
    header(&h, "Retry-After: 7\r\n");
    CHECK(h.retry_after == 7);
    header(&h, "Retry-After: -5\r\n");
    CHECK(h.retry_after == -1);
    header(&h, "Retry-After: Wed, 21 Oct 2026 07:28:00 GMT\r\n");
    CHECK(h.retry_after == -1);
    header(&h, "X-Linked-Size: 99999999999999999999\r\n");
    CHECK(h.linked_size == -1);
    header(&h, "RateLimit: \"api\";r=-1;t=99999999999999999999\r\n");
    CHECK(h.ratelimit_remaining == -1 && h.ratelimit_reset == -1);
    header(&h, "RateLimit: \"api\";r=12;t=30\r\n");
    CHECK(h.ratelimit_remaining == 12 && h.ratelimit_reset == 30);
    net_headers_clear(&h);
    return check_summary("test_netauth");
}
