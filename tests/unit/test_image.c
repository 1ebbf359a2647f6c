/* Image decoding and resampling: round trips through real encoders, scaled
 * JPEG decodes, and hostile bytes that must be refused without a crash. */
#include "check.h"
#include "ferry/image.h"
#include "ferry/xalloc.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#define W 97
#define H 61

/* A gradient with a flat rectangle and a diagonal line: smooth areas and edges. */
static unsigned char *pattern(int w, int h)
{
    unsigned char *p = xmalloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            unsigned char *px = p + ((size_t)y * w + x) * 3;
            px[0] = (unsigned char)(x * 255 / (w - 1));
            px[1] = (unsigned char)(y * 255 / (h - 1));
            px[2] = (unsigned char)((x + y) * 255 / (w + h - 2));
            if (x >= w / 4 && x < w / 2 && y >= h / 4 && y < h / 2)
                px[0] = 200, px[1] = 40, px[2] = 90;
            if (abs(x - 2 * y) <= 1)
                px[0] = px[1] = px[2] = 250;
        }
    }
    return p;
}

static double mean_abs_diff(const unsigned char *a, const unsigned char *b, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += abs(a[i] - b[i]);
    return sum / n;
}

/* tjFree the result. */
static unsigned char *jpeg_encode(const unsigned char *pix, int w, int h, int pf, int subsamp,
                                  size_t *size)
{
    tjhandle tj = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long len = 0;
    CHECK(tjCompress2(tj, pix, w, 0, h, pf, &jpeg, &len, subsamp, 95, 0) == 0);
    tjDestroy(tj);
    *size = len;
    return jpeg;
}

/* Through the simplified writer, which tags its output with gAMA/sRGB. */
static unsigned char *png_encode(const void *pix, int w, int h, png_uint_32 format,
                                 const void *colormap, int colormap_entries, size_t *size)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = (png_uint_32)w;
    png.height = (png_uint_32)h;
    png.format = format;
    png.colormap_entries = (png_uint_32)colormap_entries;
    png_alloc_size_t len = 0;
    CHECK(png_image_write_get_memory_size(png, len, 0, pix, 0, colormap));
    unsigned char *out = xmalloc(len);
    CHECK(png_image_write_to_memory(&png, out, &len, 0, pix, 0, colormap));
    *size = len;
    return out;
}

/* A 16-bit RGB PNG with no colour chunks at all, as many tools write them. */
static unsigned char *png_encode_bare16(const uint16_t *pix, int w, int h, size_t *size)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, size);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        CHECK(!"libpng write failed");
    } else {
        png_init_io(png, f);
        png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 16, PNG_COLOR_TYPE_RGB,
                     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        png_set_swap(png);   /* our samples are host (little) endian */
        for (int y = 0; y < h; y++)
            png_write_row(png, (png_const_bytep)(pix + (size_t)y * w * 3));
        png_write_end(png, NULL);
    }
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return (unsigned char *)buf;
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* Rewrite the IHDR size, with a valid CRC so only the size is wrong. */
static void png_set_size(unsigned char *png, uint32_t w, uint32_t h)
{
    put_be32(png + 16, w);
    put_be32(png + 20, h);
    put_be32(png + 29, crc32_of(png + 12, 17));
}

/* Rewrite the SOF0 size (16 bits each: JPEG cannot say 100000). */
static void jpeg_set_size(unsigned char *jpeg, size_t len, int w, int h)
{
    for (size_t i = 2; i + 9 < len; i++) {
        if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
            jpeg[i + 5] = (unsigned char)(h >> 8), jpeg[i + 6] = (unsigned char)h;
            jpeg[i + 7] = (unsigned char)(w >> 8), jpeg[i + 8] = (unsigned char)w;
            return;
        }
    }
    CHECK(!"no SOF0 marker");
}

static unsigned lcg(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

/* Decode expecting failure: the status, a reason, and nothing left allocated. */
static void expect_fail(const void *data, size_t len, int status, const char *reason_has)
{
    struct image img;
    char why[128] = "";
    CHECK(image_decode(data, len, 0, &img, why, sizeof why) == status);
    CHECK(img.rgb == NULL && img.width == 0 && img.height == 0);
    CHECK(why[0] != '\0');
    if (reason_has && !strstr(why, reason_has))
        fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", why, reason_has);
    CHECK(!reason_has || strstr(why, reason_has));
    image_free(&img);
}

static void test_jpeg_roundtrip(void)
{
    unsigned char *src = pattern(W, H);
    size_t len;
    unsigned char *jpeg = jpeg_encode(src, W, H, TJPF_RGB, TJSAMP_420, &len);
    struct image img;
    char why[128];
    CHECK(image_decode(jpeg, len, 0, &img, why, sizeof why) == IMAGE_OK);
    CHECK(img.width == W && img.height == H);
    /* Quality 95, but 4:2:0 halves the chroma resolution, which costs most
     * at the coloured edges: 2.1 levels (of 255) measured, 3 allowed. */
    double mae = mean_abs_diff(src, img.rgb, (size_t)W * H * 3);
    printf("jpeg q95 4:2:0 %dx%d: mean abs error %.2f levels\n", W, H, mae);
    CHECK(mae < 3.0);
    image_free(&img);
    CHECK(img.rgb == NULL);
    tjFree(jpeg);
    free(src);
}

static void resize_diff(const struct image *a, const struct image *b, int side, double *mean,
                        double *max)
{
    size_t n = (size_t)side * side * 3;
    float *fa = xmalloc(n * sizeof *fa), *fb = xmalloc(n * sizeof *fb);
    image_resize_rgb(a, side, fa);
    image_resize_rgb(b, side, fb);
    *mean = *max = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(fa[i] - fb[i]);
        *mean += d / n;
        *max = d > *max ? d : *max;
    }
    free(fa);
    free(fb);
}

/* Decoding at min_side and resizing to it should match resizing the full
 * decode.  The gap is the scaled IDCT's own rounding and blur at the sharp
 * line, plus, when the scaled size is not whole, the partial last block that
 * TJSCALED rounds up to a full pixel, stretching the picture slightly. */
static void scaled_agrees(int w, int h, int side, int want_w, int want_h, double mean_bound,
                          double max_bound)
{
    unsigned char *src = pattern(w, h);
    size_t len;
    unsigned char *jpeg = jpeg_encode(src, w, h, TJPF_RGB, TJSAMP_420, &len);
    struct image full, scaled;
    CHECK(image_decode(jpeg, len, 0, &full, NULL, 0) == IMAGE_OK);
    CHECK(image_decode(jpeg, len, side, &scaled, NULL, 0) == IMAGE_OK);
    CHECK(scaled.width == want_w && scaled.height == want_h);
    double mean, max;
    resize_diff(&full, &scaled, side, &mean, &max);
    printf("%dx%d at min_side %d decodes %dx%d; resized to %d vs full: mean %.4f max %.4f\n",
           w, h, side, scaled.width, scaled.height, side, mean, max);
    CHECK(mean < mean_bound && max < max_bound);
    image_free(&scaled);
    image_free(&full);
    tjFree(jpeg);
    free(src);
}

static void test_jpeg_scaled(void)
{
    unsigned char *src = pattern(W, H);
    size_t len;
    unsigned char *jpeg = jpeg_encode(src, W, H, TJPF_RGB, TJSAMP_420, &len);
    struct image img;
    CHECK(image_decode(jpeg, len, 20, &img, NULL, 0) == IMAGE_OK);
    CHECK(img.width >= 20 && img.height >= 20 && img.width < W && img.height < H);
    CHECK(img.width == 37 && img.height == 23);   /* 3/8: 1/4 would give 16 rows */
    image_free(&img);
    CHECK(image_decode(jpeg, len, 8, &img, NULL, 0) == IMAGE_OK);
    CHECK(img.width == 13 && img.height == 8);   /* 1/8, the smallest there is */
    image_free(&img);
    CHECK(image_decode(jpeg, len, 500, &img, NULL, 0) == IMAGE_OK);
    CHECK(img.width == W && img.height == H);   /* none big enough: full size */
    image_free(&img);
    tjFree(jpeg);
    free(src);

    scaled_agrees(W, H, 16, 25, 16, 0.03, 0.2);   /* 24.25 columns rounded up to 25 */
    scaled_agrees(W, H, 20, 37, 23, 0.03, 0.2);
    scaled_agrees(320, 240, 30, 40, 30, 0.01, 0.06);   /* whole blocks */
}

static void test_jpeg_gray_and_cmyk(void)
{
    unsigned char gray[W * H], *rgb = pattern(W, H);
    for (int i = 0; i < W * H; i++)
        gray[i] = rgb[i * 3 + 1];
    size_t len;
    unsigned char *jpeg = jpeg_encode(gray, W, H, TJPF_GRAY, TJSAMP_GRAY, &len);
    struct image img;
    CHECK(image_decode(jpeg, len, 0, &img, NULL, 0) == IMAGE_OK);
    CHECK(img.width == W && img.height == H);
    int grey_ok = 1, err = 0;
    for (int i = 0; i < W * H; i++) {
        const unsigned char *p = img.rgb + i * 3;
        grey_ok &= p[0] == p[1] && p[1] == p[2];
        err += abs(p[0] - gray[i]);
    }
    CHECK(grey_ok);
    CHECK((double)err / (W * H) < 2.0);
    image_free(&img);
    tjFree(jpeg);

    unsigned char *cmyk = xmalloc((size_t)W * H * 4);
    for (int i = 0; i < W * H * 4; i++)
        cmyk[i] = (unsigned char)(i * 7);
    jpeg = jpeg_encode(cmyk, W, H, TJPF_CMYK, TJSAMP_444, &len);
    expect_fail(jpeg, len, IMAGE_UNSUPPORTED, "CMYK");
    tjFree(jpeg);
    free(cmyk);
    free(rgb);
}

static int decodes_to(const unsigned char *data, size_t len, int w, int h,
                      const unsigned char *want)
{
    struct image img;
    char why[128] = "";
    int status = image_decode(data, len, 64, &img, why, sizeof why);
    int same = status == IMAGE_OK && img.width == w && img.height == h &&
               memcmp(img.rgb, want, (size_t)w * h * 3) == 0;
    if (!same)
        fprintf(stderr, "status %d (%s)\n", status, why);
    image_free(&img);
    return same;
}

static void test_png(void)
{
    unsigned char *rgb = pattern(W, H);
    size_t len;
    unsigned char *png = png_encode(rgb, W, H, PNG_FORMAT_RGB, NULL, 0, &len);
    CHECK(decodes_to(png, len, W, H, rgb));   /* min_side does not apply to PNG */
    free(png);

    unsigned char gray[W * H], gray_rgb[W * H * 3];
    for (int i = 0; i < W * H; i++)
        gray[i] = gray_rgb[i * 3] = gray_rgb[i * 3 + 1] = gray_rgb[i * 3 + 2] = rgb[i * 3];
    png = png_encode(gray, W, H, PNG_FORMAT_GRAY, NULL, 0, &len);
    CHECK(decodes_to(png, len, W, H, gray_rgb));
    free(png);

    unsigned char index[W * H], palette[4 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 99, 199};
    unsigned char paletted[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        index[i] = (unsigned char)(i % 4);
        memcpy(paletted + i * 3, palette + index[i] * 3, 3);
    }
    png = png_encode(index, W, H, PNG_FORMAT_RGB_COLORMAP, palette, 4, &len);
    CHECK(decodes_to(png, len, W, H, paletted));
    free(png);
    free(rgb);
}

/* libpng's simplified API models sRGB as a plain 2.2 power curve. */
static double encode22(double v)
{
    return 255 * pow(v, 1 / 2.2);
}

static double decode22(int c)
{
    return pow(c / 255.0, 2.2);
}

/* Alpha is composited onto black in linear light, as libpng does it: opaque
 * and transparent pixels are exact, half-white is 186, not 128. */
static void test_png_alpha(void)
{
    const unsigned char rgba[4 * 4] = {
        10, 200, 30, 255,   250, 128, 7, 0,   255, 255, 255, 128,   100, 50, 0, 64,
    };
    size_t len;
    unsigned char *png = png_encode(rgba, 4, 1, PNG_FORMAT_RGBA, NULL, 0, &len);
    struct image img;
    CHECK(image_decode(png, len, 0, &img, NULL, 0) == IMAGE_OK);
    CHECK(img.width == 4 && img.height == 1);
    CHECK(img.rgb[0] == 10 && img.rgb[1] == 200 && img.rgb[2] == 30);
    CHECK(img.rgb[6] == 186);
    CHECK(img.rgb[3] == 0 && img.rgb[4] == 0 && img.rgb[5] == 0);
    for (int px = 2; px < 4; px++) {
        for (int c = 0; c < 3; c++) {
            double want = encode22(decode22(rgba[px * 4 + c]) * rgba[px * 4 + 3] / 255.0);
            CHECK(fabs(img.rgb[px * 3 + c] - want) <= 2.0);
        }
    }
    image_free(&img);
    free(png);
}

/* A tagged 16-bit PNG (the simplified writer marks its 16-bit output linear)
 * is converted to sRGB; an untagged one is taken as sRGB already. */
static void test_png_16bit(void)
{
    const uint16_t linear16[4 * 3] = {0,     65535, 32768, 16384, 1000,  65535,
                                      0,     0,     0,     40000, 20000, 50000};
    size_t len;
    unsigned char *png = png_encode(linear16, 4, 1, PNG_FORMAT_LINEAR_RGB, NULL, 0, &len);
    struct image img;
    CHECK(image_decode(png, len, 0, &img, NULL, 0) == IMAGE_OK);
    CHECK(img.width == 4 && img.height == 1);
    for (int i = 0; i < 12; i++)
        CHECK(fabs(img.rgb[i] - encode22(linear16[i] / 65535.0)) <= 1.0);
    CHECK(img.rgb[0] == 0 && img.rgb[1] == 255);
    image_free(&img);
    free(png);

    uint16_t bare[4 * 3];
    unsigned char want[4 * 3];
    for (int i = 0; i < 12; i++) {
        want[i] = (unsigned char)(i * 23);
        bare[i] = (uint16_t)(want[i] * 257);
    }
    png = png_encode_bare16(bare, 4, 1, &len);
    CHECK(decodes_to(png, len, 4, 1, want));
    free(png);
}

static void test_refused(void)
{
    unsigned char *rgb = pattern(W, H);
    size_t jlen, plen;
    unsigned char *jpeg = jpeg_encode(rgb, W, H, TJPF_RGB, TJSAMP_420, &jlen);
    unsigned char *png = png_encode(rgb, W, H, PNG_FORMAT_RGB, NULL, 0, &plen);

    expect_fail(jpeg, jlen / 2, IMAGE_CORRUPT, "JPEG");   /* cut inside the scan */
    expect_fail(jpeg, 40, IMAGE_CORRUPT, "JPEG");         /* cut inside the header */
    expect_fail(png, plen / 2, IMAGE_CORRUPT, "PNG");
    expect_fail(png, 30, IMAGE_CORRUPT, "PNG");
    expect_fail("", 0, IMAGE_CORRUPT, NULL);
    expect_fail(NULL, 0, IMAGE_CORRUPT, NULL);
    expect_fail("GIF89a\x61\x00\x3d\x00\x80\x00\x00", 13, IMAGE_UNSUPPORTED, "GIF");
    expect_fail("RIFF\x24\x00\x00\x00WEBPVP8 ", 16, IMAGE_UNSUPPORTED, "WebP");
    expect_fail("hello, world\n", 13, IMAGE_UNSUPPORTED, NULL);
    expect_fail("\xFF\xD8", 2, IMAGE_UNSUPPORTED, NULL);

    unsigned char noise[4096];
    unsigned seed = 7;
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (unsigned char)lcg(&seed);
    expect_fail(noise, sizeof noise, IMAGE_UNSUPPORTED, NULL);
    memcpy(noise, "\xFF\xD8\xFF", 3);
    expect_fail(noise, sizeof noise, IMAGE_CORRUPT, "JPEG");
    memcpy(noise, "\x89PNG\r\n\x1A\n", 8);
    expect_fail(noise, sizeof noise, IMAGE_CORRUPT, "PNG");

    png[plen / 2] ^= 0x55;   /* inside IDAT: zlib or the CRC objects */
    expect_fail(png, plen, IMAGE_CORRUPT, "PNG");
    png[plen / 2] ^= 0x55;
    png_set_size(png, 100000, 100000);
    expect_fail(png, plen, IMAGE_UNSUPPORTED, "100000x100000");
    png_set_size(png, 16385, 1);
    expect_fail(png, plen, IMAGE_UNSUPPORTED, "too large");
    png_set_size(png, 10001, 10000);   /* each side allowed, 100.01 megapixels is not */
    expect_fail(png, plen, IMAGE_UNSUPPORTED, "too large");
    jpeg_set_size(jpeg, jlen, 60000, 60000);
    expect_fail(jpeg, jlen, IMAGE_UNSUPPORTED, "60000x60000");
    jpeg_set_size(jpeg, jlen, 1, 16385);
    expect_fail(jpeg, jlen, IMAGE_UNSUPPORTED, "too large");
    jpeg_set_size(jpeg, jlen, W, H);
    struct image img;
    CHECK(image_decode(jpeg, jlen, 0, &img, NULL, 0) == IMAGE_OK);   /* the handle recovered */
    image_free(&img);
    tjFree(jpeg);
    free(png);
    free(rgb);
}

/* Every prefix and a few hundred single-byte changes: each must give a valid
 * status, an image only with sane dimensions, and leave the decoder able to
 * decode the intact bytes next. */
static void fuzz(const unsigned char *good, size_t len, unsigned seed)
{
    unsigned char *copy = xmalloc(len);
    int sane = 1, recovers = 1;
    for (size_t i = 0; i < len + 300; i++) {
        memcpy(copy, good, len);
        size_t n = i < len ? i : len;
        if (i >= len)
            copy[2 + lcg(&seed) % (len - 2)] ^= (unsigned char)(1 + lcg(&seed) % 255);
        struct image img;
        char why[64];
        int status = image_decode(copy, n, (int)(i % 3) * 10, &img, why, sizeof why);
        sane &= status == IMAGE_OK ? img.rgb && img.width > 0 && img.width <= IMAGE_MAX_SIDE
                                   : (status == IMAGE_CORRUPT || status == IMAGE_UNSUPPORTED);
        image_free(&img);
        if (status != IMAGE_OK) {   /* a failure must not spoil the next image */
            recovers &= image_decode(good, len, 0, &img, why, sizeof why) == IMAGE_OK;
            image_free(&img);
        }
    }
    CHECK(sane);
    CHECK(recovers);
    free(copy);
}

static void test_fuzz(void)
{
    unsigned char *rgb = pattern(W, H);
    size_t len;
    unsigned char *jpeg = jpeg_encode(rgb, W, H, TJPF_RGB, TJSAMP_420, &len);
    fuzz(jpeg, len, 1);
    tjFree(jpeg);
    unsigned char *png = png_encode(rgb, W, H, PNG_FORMAT_RGB, NULL, 0, &len);
    fuzz(png, len, 2);
    free(png);
    free(rgb);
}

/* 4×4 → 2×2 is four exact 2×2 means; 2 → 4 interpolates between centres. */
static void test_resize_rgb(void)
{
    unsigned char px[4 * 4 * 3];
    for (int i = 0; i < 4 * 4 * 3; i++)
        px[i] = (unsigned char)(i * 5);
    struct image img = {4, 4, px};
    float out[2 * 2 * 3];
    image_resize_rgb(&img, 2, out);
    for (int oy = 0; oy < 2; oy++) {
        for (int ox = 0; ox < 2; ox++) {
            for (int c = 0; c < 3; c++) {
                int sum = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++)
                        sum += px[((oy * 2 + dy) * 4 + ox * 2 + dx) * 3 + c];
                CHECK(fabsf(out[(oy * 2 + ox) * 3 + c] - sum / 4.0f / 255.0f) < 1e-6f);
            }
        }
    }

    unsigned char two[2 * 2 * 3] = {0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255};
    struct image small = {2, 2, two};
    float big[4 * 4 * 3];
    image_resize_rgb(&small, 4, big);
    const float row[4] = {0, 0.25f, 0.75f, 1};
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            CHECK(fabsf(big[(y * 4 + x) * 3 + 1] - row[x]) < 1e-6f);

    float same[4 * 4 * 3];
    image_resize_rgb(&img, 4, same);
    for (int i = 0; i < 4 * 4 * 3; i++)
        CHECK(fabsf(same[i] - px[i] / 255.0f) < 1e-6f);
}

/* Red, green, blue and white give the luminance weights; 18×16 blocks of 2×2
 * reduce to dHash's 9×8 exactly. */
static void test_resize_gray(void)
{
    unsigned char quad[2 * 2 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    struct image img = {2, 2, quad};
    float g[4];
    image_resize_gray(&img, 2, 2, g);
    CHECK(fabsf(g[0] - 0.299f) < 1e-5f && fabsf(g[1] - 0.587f) < 1e-5f);
    CHECK(fabsf(g[2] - 0.114f) < 1e-5f && fabsf(g[3] - 1.0f) < 1e-5f);
    image_resize_gray(&img, 1, 1, g);
    CHECK(fabsf(g[0] - (0.299f + 0.587f + 0.114f + 1) / 4) < 1e-5f);

    unsigned char px[18 * 16 * 3];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 18; x++)
            memset(px + (y * 18 + x) * 3, (x / 2 + 9 * (y / 2)) * 3, 3);
    struct image blocks = {18, 16, px};
    float hash[9 * 8];
    image_resize_gray(&blocks, 9, 8, hash);
    for (int i = 0; i < 9 * 8; i++)
        CHECK(fabsf(hash[i] - i * 3 / 255.0f) < 1e-5f);
}

static void run(const char *name, void (*test)(void))
{
    int before = check_failed;
    test();
    printf("%s: %s\n", check_failed == before ? "ok" : "FAIL", name);
}

int main(void)
{
    run("jpeg round trip", test_jpeg_roundtrip);
    run("jpeg scaled decode", test_jpeg_scaled);
    run("jpeg gray and cmyk", test_jpeg_gray_and_cmyk);
    run("png rgb, gray, palette", test_png);
    run("png alpha onto black", test_png_alpha);
    run("png 16-bit", test_png_16bit);
    run("refused input", test_refused);
    run("fuzzed input", test_fuzz);
    run("resize rgb", test_resize_rgb);
    run("resize gray", test_resize_gray);
    return check_summary("test_image");
}
