#include "ferry/image.h"
#include "ferry/log.h"
#include "ferry/xalloc.h"

#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* LIMITSCANS stops a progressive JPEG with thousands of tiny scans from
 * burning minutes; STOPONWARNING gives up at the first sign of damage, since
 * a warning makes the image corrupt anyway (image.h). */
#define JPEG_FLAGS (TJFLAG_FASTDCT | TJFLAG_LIMITSCANS | TJFLAG_STOPONWARNING)

struct signature {
    const char *magic;
    size_t offset, len;
    const char *name;
};

/* The two decoded, then a few others only so that the reason can name them. */
static const struct signature signatures[] = {
    {"\xFF\xD8\xFF", 0, 3, "JPEG"},
    {"\x89PNG\r\n\x1A\n", 0, 8, "PNG"},
    {"GIF8", 0, 4, "GIF"},
    {"WEBP", 8, 4, "WebP"},
    {"BM", 0, 2, "BMP"},
    {"II*\0", 0, 4, "TIFF"},
    {"MM\0*", 0, 4, "TIFF"},
};

__attribute__((format(printf, 4, 5)))
static int fail(char *why, size_t why_len, int status, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return status;
}

static const char *sniff(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < sizeof signatures / sizeof *signatures; i++) {
        const struct signature *s = &signatures[i];
        if (s->offset + s->len <= len && memcmp(p + s->offset, s->magic, s->len) == 0)
            return s->name;
    }
    return NULL;
}

static int check_size(long long w, long long h, char *why, size_t why_len)
{
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || w * h > IMAGE_MAX_PIXELS)
        return fail(why, why_len, IMAGE_UNSUPPORTED, "%lldx%lld is too large", w, h);
    return IMAGE_OK;
}

/* One handle for the process: each costs allocations and a few KB of tables. */
static tjhandle jpeg_tj;

static tjhandle jpeg_handle(void)
{
    if (!jpeg_tj)
        jpeg_tj = tjInitDecompress();
    if (!jpeg_tj) {
        FLOG(LOG_ERROR, "cannot start TurboJPEG: %s", tjGetErrorStr2(NULL));
        exit(1);
    }
    return jpeg_tj;
}

/* TurboJPEG 2.1's tjDecompressHeader3 returns from a libjpeg error without
 * aborting the decompressor, which then fails every later image with the
 * same error; a fresh handle is the only reset the API offers. */
static int jpeg_header_failed(char *why, size_t why_len)
{
    int status = fail(why, why_len, IMAGE_CORRUPT, "JPEG: %s", tjGetErrorStr2(jpeg_tj));
    tjDestroy(jpeg_tj);
    jpeg_tj = NULL;
    return status;
}

/* The smallest factor that keeps both sides >= min_side, never above 1/1:
 * the scaled IDCT shrinks almost for free, a resize afterwards does not. */
static tjscalingfactor jpeg_scale(int w, int h, int min_side)
{
    tjscalingfactor best = {1, 1};
    int n = 0;
    tjscalingfactor *sf = min_side > 0 ? tjGetScalingFactors(&n) : NULL;
    for (int i = 0; sf && i < n; i++) {
        bool smaller = sf[i].num * best.denom < best.num * sf[i].denom;
        if (smaller && TJSCALED(w, sf[i]) >= min_side && TJSCALED(h, sf[i]) >= min_side)
            best = sf[i];
    }
    return best;
}

static int decode_jpeg(const unsigned char *data, size_t len, int min_side, struct image *out,
                       char *why, size_t why_len)
{
    tjhandle tj = jpeg_handle();
    int w = 0, h = 0, subsamp, colorspace = TJCS_RGB;
    if (tjDecompressHeader3(tj, data, len, &w, &h, &subsamp, &colorspace) != 0)
        return jpeg_header_failed(why, why_len);
    /* Bytes that end before the first scan pass for a tables-only stream:
     * success, with nothing filled in. */
    if (w < 1 || h < 1)
        return fail(why, why_len, IMAGE_CORRUPT, "JPEG: no image before the end of the data");
    if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)   /* libjpeg-turbo has no CMYK to RGB */
        return fail(why, why_len, IMAGE_UNSUPPORTED, "CMYK JPEG");
    int status = check_size(w, h, why, why_len);
    if (status != IMAGE_OK)
        return status;

    tjscalingfactor sf = jpeg_scale(w, h, min_side);
    int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
    unsigned char *rgb = xmalloc((size_t)sw * sh * 3);
    if (tjDecompress2(tj, data, len, rgb, sw, 0, sh, TJPF_RGB, JPEG_FLAGS) != 0) {
        free(rgb);
        return fail(why, why_len, IMAGE_CORRUPT, "JPEG: %s", tjGetErrorStr2(tj));
    }
    *out = (struct image){.width = sw, .height = sh, .rgb = rgb};
    return IMAGE_OK;
}

/* The simplified API frees its own state when a call fails and when
 * png_image_finish_read returns; only a refusal in between needs
 * png_image_free. */
static int decode_png(const unsigned char *data, size_t len, struct image *out, char *why,
                      size_t why_len)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, data, len))
        return fail(why, why_len, IMAGE_CORRUPT, "PNG: %s", png.message);
    int status = check_size(png.width, png.height, why, why_len);
    if (status != IMAGE_OK) {
        png_image_free(&png);
        return status;
    }

    png.format = PNG_FORMAT_RGB;
    png.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    static const png_color black = {0, 0, 0};
    unsigned char *rgb = xmalloc(PNG_IMAGE_SIZE(png));
    if (!png_image_finish_read(&png, &black, rgb, 0, NULL)) {
        free(rgb);
        return fail(why, why_len, IMAGE_CORRUPT, "PNG: %s", png.message);
    }
    *out = (struct image){.width = (int)png.width, .height = (int)png.height, .rgb = rgb};
    return IMAGE_OK;
}

int image_decode(const void *data, size_t len, int min_side, struct image *out, char *why,
                 size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (len == 0)   /* a failed write or extraction, not some other format */
        return fail(why, why_len, IMAGE_CORRUPT, "empty");
    const char *format = sniff(data, len);
    if (!format)
        return fail(why, why_len, IMAGE_UNSUPPORTED, "not a JPEG or PNG");
    if (strcmp(format, "JPEG") == 0)
        return decode_jpeg(data, len, min_side, out, why, why_len);
    if (strcmp(format, "PNG") == 0)
        return decode_png(data, len, out, why, why_len);
    return fail(why, why_len, IMAGE_UNSUPPORTED, "%s is not supported (only JPEG and PNG)",
                format);
}

void image_free(struct image *img)
{
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

/* How each output sample along one axis mixes source samples: taps weights
 * starting at source index first[i], the window kept inside the source so the
 * inner loops need no bounds checks. */
struct axis {
    int taps;
    int *first;
    float *weight;
};

/* Share of output sample [lo, hi) that source sample j covers. */
static float box_weight(double lo, double hi, int j)
{
    double overlap = fmin(hi, j + 1.0) - fmax(lo, j);
    return overlap > 0 ? (float)(overlap / (hi - lo)) : 0.0f;
}

/* Linear interpolation at x between sample centres. */
static float tent_weight(double x, int j)
{
    double d = fabs(x - j);
    return d < 1 ? (float)(1 - d) : 0.0f;
}

static void axis_init(struct axis *ax, int src, int dst)
{
    double scale = (double)src / dst;
    bool shrink = dst < src;
    ax->taps = shrink ? (int)ceil(scale) + 1 : 2;
    if (ax->taps > src)
        ax->taps = src;
    ax->first = xmalloc((size_t)dst * sizeof *ax->first);
    ax->weight = xmalloc((size_t)dst * ax->taps * sizeof *ax->weight);
    for (int i = 0; i < dst; i++) {
        double lo = i * scale, hi = (i + 1) * scale;
        double centre = fmin(fmax((i + 0.5) * scale - 0.5, 0), src - 1);
        int first = (int)(shrink ? lo : centre);
        if (first > src - ax->taps)
            first = src - ax->taps;
        ax->first[i] = first;
        for (int k = 0; k < ax->taps; k++)
            ax->weight[(size_t)i * ax->taps + k] =
                shrink ? box_weight(lo, hi, first + k) : tent_weight(centre, first + k);
    }
}

static void axis_free(struct axis *ax)
{
    free(ax->first);
    free(ax->weight);
}

static void resample_row(const unsigned char *src, const struct axis *ax, int dw, float *out)
{
    for (int x = 0; x < dw; x++) {
        const unsigned char *p = src + (size_t)ax->first[x] * 3;
        const float *w = ax->weight + (size_t)x * ax->taps;
        float r = 0, g = 0, b = 0;
        for (int k = 0; k < ax->taps; k++, p += 3) {
            r += w[k] * p[0];
            g += w[k] * p[1];
            b += w[k] * p[2];
        }
        out[x * 3] = r;
        out[x * 3 + 1] = g;
        out[x * 3 + 2] = b;
    }
}

/* Columns of rows (each n floats) mixed into out, brought from 0..255 to 0..1. */
static void resample_columns(const float *rows, size_t n, const struct axis *ay, int dh, float *out)
{
    for (int y = 0; y < dh; y++) {
        const float *w = ay->weight + (size_t)y * ay->taps;
        float *o = out + (size_t)y * n;
        memset(o, 0, n * sizeof *o);
        for (int k = 0; k < ay->taps; k++) {
            const float *row = rows + (size_t)(ay->first[y] + k) * n;
            for (size_t i = 0; i < n; i++)
                o[i] += w[k] * row[i];
        }
        for (size_t i = 0; i < n; i++)
            o[i] /= 255.0f;
    }
}

/* Rows first, then columns: separable, so each pass touches every input once. */
static void resample(const struct image *img, int dw, int dh, float *out)
{
    struct axis ax, ay;
    axis_init(&ax, img->width, dw);
    axis_init(&ay, img->height, dh);
    size_t n = (size_t)dw * 3;
    float *rows = xmalloc((size_t)img->height * n * sizeof *rows);
    for (int y = 0; y < img->height; y++)
        resample_row(img->rgb + (size_t)y * img->width * 3, &ax, dw, rows + (size_t)y * n);
    resample_columns(rows, n, &ay, dh, out);
    free(rows);
    axis_free(&ax);
    axis_free(&ay);
}

void image_resize_rgb(const struct image *img, int side, float *out)
{
    resample(img, side, side, out);
}

/* Luminance is linear in R, G and B, so averaging colour then weighting
 * equals weighting then averaging. */
void image_resize_gray(const struct image *img, int w, int h, float *out)
{
    size_t n = (size_t)w * h;
    float *rgb = xmalloc(n * 3 * sizeof *rgb);
    resample(img, w, h, rgb);
    for (size_t i = 0; i < n; i++)
        out[i] = 0.299f * rgb[i * 3] + 0.587f * rgb[i * 3 + 1] + 0.114f * rgb[i * 3 + 2];
    free(rgb);
}
