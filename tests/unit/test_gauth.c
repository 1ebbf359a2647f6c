/* Google credentials: the JWT a service account signs (checked with the
 * public half of a key made here), the token endpoint's answers good and
 * bad, key files good and bad, and that no error ever quotes a secret. */
#include "check.h"
#include "ferry/gauth.h"
#include "ferry/xalloc.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EMAIL "ferry-test@ferry-project.iam.gserviceaccount.com"
#define AUD "https://oauth2.googleapis.com/token"

static char *pem_of(EVP_PKEY *pkey, bool public_half, const char *passphrase)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (public_half)
        PEM_write_bio_PUBKEY(bio, pkey);
    else
        PEM_write_bio_PrivateKey(bio, pkey, passphrase ? EVP_aes_256_cbc() : NULL,
                                 (const unsigned char *)passphrase,
                                 passphrase ? (int)strlen(passphrase) : 0, NULL, NULL);
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    char *out = xstrndup(data, (size_t)len);
    BIO_free(bio);
    return out;
}

/* base64url (no padding) back to bytes. */
static unsigned char *unb64url(const char *s, size_t len, size_t *out_len)
{
    char *std = xmalloc(len + 4);
    size_t n = 0;
    for (; n < len; n++)
        std[n] = s[n] == '-' ? '+' : s[n] == '_' ? '/' : s[n];
    while (n % 4)
        std[n++] = '=';
    unsigned char *out = xmalloc(n + 1);
    int got = EVP_DecodeBlock(out, (unsigned char *)std, (int)n);
    size_t pad = n && std[n - 1] == '=' ? (n > 1 && std[n - 2] == '=' ? 2 : 1) : 0;
    free(std);
    *out_len = got < 0 ? 0 : (size_t)got - pad;
    out[*out_len] = '\0';
    return out;
}

static bool verify(EVP_PKEY *pkey, const char *input, size_t input_len, const unsigned char *sig,
                   size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, input_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_jwt(EVP_PKEY *pkey, const char *pem)
{
    char *jwt = NULL;
    struct ferry_error err = {0};
    CHECK(gauth_make_jwt(EMAIL, pem, "k1", GAUTH_SCOPE, AUD, 1700000000, &jwt, &err) == 0);
    CHECK(jwt && !strchr(jwt, '=') && !strchr(jwt, '+') && !strchr(jwt, '/'));
    const char *dot1 = jwt ? strchr(jwt, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    CHECK(dot2 && !strchr(dot2 + 1, '.'));
    if (!dot2)
        return;
    size_t n;
    unsigned char *h = unb64url(jwt, (size_t)(dot1 - jwt), &n);
    cJSON *header = cJSON_Parse((char *)h);
    CHECK(strcmp(str(header, "alg"), "RS256") == 0 && strcmp(str(header, "typ"), "JWT") == 0 &&
          strcmp(str(header, "kid"), "k1") == 0 && cJSON_GetArraySize(header) == 3);
    unsigned char *c = unb64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), &n);
    cJSON *claims = cJSON_Parse((char *)c);
    CHECK(strcmp(str(claims, "iss"), EMAIL) == 0 && strcmp(str(claims, "aud"), AUD) == 0 &&
          strcmp(str(claims, "scope"), GAUTH_SCOPE) == 0);
    CHECK(num(claims, "iat") == 1700000000 && num(claims, "exp") == 1700003600);
    CHECK(strstr((char *)c, "\"iat\":1700000000,") != NULL);   /* an integer, not 1.7e9 */
    unsigned char *sig = unb64url(dot2 + 1, strlen(dot2 + 1), &n);
    CHECK(n == 256 && verify(pkey, jwt, (size_t)(dot2 - jwt), sig, n));
    /* One changed claim byte and the signature no longer holds. */
    jwt[dot1 - jwt + 3] ^= 1;
    CHECK(!verify(pkey, jwt, (size_t)(dot2 - jwt), sig, n));
    cJSON_Delete(header);
    cJSON_Delete(claims);
    free(h);
    free(c);
    free(sig);
    gauth_wipe_free(jwt);

    /* No key id: no kid. */
    CHECK(gauth_make_jwt(EMAIL, pem, NULL, GAUTH_SCOPE, AUD, 5, &jwt, &err) == 0);
    dot1 = strchr(jwt, '.');
    h = unb64url(jwt, (size_t)(dot1 - jwt), &n);
    CHECK(strstr((char *)h, "kid") == NULL);
    free(h);
    gauth_wipe_free(jwt);

    CHECK(gauth_make_jwt(EMAIL, "not a key", NULL, GAUTH_SCOPE, AUD, 5, &jwt, &err) ==
          FERRY_EAUTH && jwt == NULL);
    CHECK(gauth_make_jwt(NULL, pem, NULL, GAUTH_SCOPE, AUD, 5, &jwt, &err) == FERRY_EAUTH);
}

static int answer(const char *body, char **token, long long *expires, struct ferry_error *err)
{
    return gauth_parse_token_answer(body, strlen(body), 1000, token, expires, err);
}

static bool refused(const char *body, const char *why)
{
    char *token = (char *)"untouched";
    long long expires = -7;
    struct ferry_error err = {0};
    bool ok = answer(body, &token, &expires, &err) == FERRY_EAUTH && token == NULL &&
              expires == -7 && strstr(err.msg, why) != NULL && strstr(err.msg, "ya29") == NULL;
    if (!ok)
        fprintf(stderr, "answer %s: %s\n", body, err.msg);
    return ok;
}

static void test_answers(void)
{
    char *token = NULL;
    long long expires = 0;
    struct ferry_error err = {0};
    CHECK(answer("{\"access_token\":\"ya29.abc-_.~+/=\",\"expires_in\":3599,"
                 "\"token_type\":\"Bearer\"}", &token, &expires, &err) == 0);
    CHECK(token && strcmp(token, "ya29.abc-_.~+/=") == 0 && expires == 4599);
    gauth_wipe_free(token);
    /* The metadata server's answer has the same fields; token_type may be
     * absent or in another case; extra fields are fine. */
    CHECK(answer("{\"expires_in\":60,\"access_token\":\"t\",\"scope\":\"x\"}", &token, &expires,
                 &err) == 0 && expires == 1060);
    gauth_wipe_free(token);
    CHECK(answer("{\"access_token\":\"t\",\"expires_in\":1,\"token_type\":\"bearer\"}", &token,
                 &expires, &err) == 0);
    gauth_wipe_free(token);
    /* Length: the body may go on past len. */
    const char *body = "{\"access_token\":\"t\",\"expires_in\":5}garbage";
    CHECK(gauth_parse_token_answer(body, strchr(body, '}') + 1 - body, 0, &token, &expires,
                                   &err) == 0 && expires == 5);
    gauth_wipe_free(token);

    CHECK(refused("", "not a JSON object"));
    CHECK(refused("<html>502</html>", "not a JSON object"));
    CHECK(refused("[1,2]", "not a JSON object"));
    CHECK(refused("\"ya29.x\"", "not a JSON object"));
    CHECK(refused("{\"access_token\":\"ya29.x\",\"expires_in\":3599", "not a JSON object"));
    CHECK(refused("{\"expires_in\":3599}", "no access_token"));
    CHECK(refused("{\"access_token\":\"\",\"expires_in\":3599}", "no access_token"));
    CHECK(refused("{\"access_token\":42,\"expires_in\":3599}", "no access_token"));
    CHECK(refused("{\"access_token\":null,\"expires_in\":3599}", "no access_token"));
    CHECK(refused("{\"access_token\":\"ya29.x\"}", "expires_in"));
    CHECK(refused("{\"access_token\":\"ya29.x\",\"expires_in\":\"3599\"}", "expires_in"));
    CHECK(refused("{\"access_token\":\"ya29.x\",\"expires_in\":0}", "expires_in"));
    CHECK(refused("{\"access_token\":\"ya29.x\",\"expires_in\":-5}", "expires_in"));
    CHECK(refused("{\"access_token\":\"ya29.x\",\"expires_in\":0.5}", "expires_in"));
    CHECK(refused("{\"access_token\":\"ya29.x\",\"expires_in\":1e300}", "expires_in"));
    CHECK(refused("{\"access_token\":\"ya29.x\",\"expires_in\":9,\"token_type\":\"MAC\"}",
                  "token_type"));
    CHECK(refused("{\"access_token\":\"ya29.x\",\"expires_in\":9,\"token_type\":1}",
                  "token_type"));
    /* A token that would add a header line, or is not a header's text. */
    CHECK(refused("{\"access_token\":\"ya29.x\\r\\nX-Evil: 1\",\"expires_in\":9}", "characters"));
    CHECK(refused("{\"access_token\":\"ya29 x\",\"expires_in\":9}", "characters"));
    CHECK(refused("{\"access_token\":\"ya29.\\u00e9\",\"expires_in\":9}", "characters"));

    size_t big = 20 * 1024;
    char *huge = xmalloc(big + 64);
    int n = snprintf(huge, 64, "{\"expires_in\":9,\"access_token\":\"");
    memset(huge + n, 'a', big);
    strcpy(huge + n + big, "\"}");
    CHECK(refused(huge, "too long"));
    free(huge);
    big = 1024 * 1024;
    huge = xmalloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = '\0';
    CHECK(refused(huge, "too big"));
    free(huge);
}

static char *key_json(const char *type, const char *email, const char *pem, const char *uri)
{
    cJSON *o = cJSON_CreateObject();
    if (type)
        cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "project_id", "ferry-project");
    cJSON_AddStringToObject(o, "private_key_id", "0123abcd");
    if (pem)
        cJSON_AddStringToObject(o, "private_key", pem);
    if (email)
        cJSON_AddStringToObject(o, "client_email", email);
    cJSON_AddStringToObject(o, "client_id", "1234567890");
    if (uri)
        cJSON_AddStringToObject(o, "token_uri", uri);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

/* Does this key file fail with a message holding why, and none of the key? */
static bool key_refused(char *text, const char *why)
{
    struct gauth *g = (struct gauth *)&g;
    struct ferry_error err = {0};
    int rc = gauth_from_key(text, strlen(text), "/keys/sa.json", &g, &err);
    bool ok = rc == FERRY_EAUTH && g == NULL && strstr(err.msg, "/keys/sa.json") &&
              strstr(err.msg, why) && !strstr(err.msg, "BEGIN") && !strstr(err.msg, "MII");
    if (!ok)
        fprintf(stderr, "key file: %s\n", err.msg);
    cJSON_free(text);
    return ok;
}

static void test_key_files(const char *pem)
{
    struct gauth *g = NULL;
    struct ferry_error err = {0};
    char *text = key_json("service_account", EMAIL, pem, "http://127.0.0.1:9/token");
    CHECK(gauth_from_key(text, strlen(text), "/keys/sa.json", &g, &err) == 0 && g);
    CHECK(g && strcmp(gauth_describe(g), "service account " EMAIL " (/keys/sa.json)") == 0);
    gauth_close(g);
    cJSON_free(text);
    /* No token_uri: Google's. */
    text = key_json("service_account", EMAIL, pem, NULL);
    CHECK(gauth_from_key(text, strlen(text), "k.json", &g, &err) == 0 && g);
    gauth_close(g);
    cJSON_free(text);

    CHECK(key_refused(xstrdup("not json"), "not JSON"));
    CHECK(key_refused(xstrdup("[]"), "not JSON"));
    CHECK(key_refused(key_json(NULL, EMAIL, pem, NULL), "no \"type\""));
    CHECK(key_refused(key_json("authorized_user", EMAIL, pem, NULL), "\"authorized_user\""));
    CHECK(key_refused(key_json("service_account", NULL, pem, NULL), "client_email"));
    CHECK(key_refused(key_json("service_account", EMAIL, NULL, NULL), "private_key"));
    CHECK(key_refused(key_json("service_account", EMAIL, pem, "file:///etc/passwd"), "token_uri"));
    CHECK(key_refused(key_json("service_account", EMAIL, "-----BEGIN PRIVATE KEY-----\nMIIEvQ"
                               "IBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n", NULL),
                      "not a PEM private key"));

    /* An elliptic-curve key cannot sign RS256; a key with a passphrase is
     * refused rather than prompted for. */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    char *ec_pem = pem_of(ec, false, NULL);
    CHECK(key_refused(key_json("service_account", EMAIL, ec_pem, NULL), "not an RSA key"));
    free(ec_pem);
    EVP_PKEY_free(ec);
    EVP_PKEY *rsa = EVP_RSA_gen(1024);
    char *locked = pem_of(rsa, false, "secret");
    CHECK(strstr(locked, "ENCRYPTED") != NULL);
    CHECK(key_refused(key_json("service_account", EMAIL, locked, NULL), "passphrase"));
    free(locked);
    EVP_PKEY_free(rsa);
}

static void test_open(const char *pem)
{
    char dir[] = "/tmp/test_gauth.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *path = xasprintf("%s/sa.json", dir);
    char *text = key_json("service_account", EMAIL, pem, NULL);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    cJSON_free(text);

    struct gauth *g = NULL;
    struct ferry_error err = {0};
    setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
    CHECK(gauth_open(&g, &err) == 0 && g && strstr(gauth_describe(g), path));
    gauth_close(g);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", dir, 1);
    CHECK(gauth_open(&g, &err) == FERRY_EAUTH && g == NULL && strstr(err.msg, dir));
    char *missing = xasprintf("%s/none.json", dir);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", missing, 1);
    CHECK(gauth_open(&g, &err) == FERRY_EAUTH && g == NULL && strstr(err.msg, missing) &&
          strstr(err.msg, "No such file"));
    free(missing);
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");

    setenv("GCE_METADATA_HOST", "127.0.0.1:9", 1);
    CHECK(gauth_open(&g, &err) == 0 && g &&
          strcmp(gauth_describe(g), "the metadata server at 127.0.0.1:9") == 0);
    gauth_close(g);
    setenv("GCE_METADATA_HOST", "evil.example/x?", 1);
    CHECK(gauth_open(&g, &err) == FERRY_EUSAGE && g == NULL);
    unsetenv("GCE_METADATA_HOST");
    unlink(path);
    rmdir(dir);
    free(path);
}

int main(void)
{
    EVP_PKEY *pkey = EVP_RSA_gen(2048);
    CHECK(pkey != NULL);
    char *pem = pem_of(pkey, false, NULL);
    test_jwt(pkey, pem);
    test_answers();
    test_key_files(pem);
    test_open(pem);
    gauth_close(NULL);
    free(pem);
    EVP_PKEY_free(pkey);
    return check_summary("test_gauth");
}
