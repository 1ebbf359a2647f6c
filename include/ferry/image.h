/* Image bytes to pixels for `ferry embed`: JPEG through TurboJPEG, PNG through
 * libpng's simplified API, told apart by their magic bytes because archive
 * entries and URLs do not reliably name what they hold.
 *
 * Outcomes, with a short reason in why:
 *   IMAGE_UNSUPPORTED  not JPEG or PNG (GIF, WebP, text...), a CMYK or YCCK
 *                      JPEG, or a header declaring more than IMAGE_MAX_SIDE
 *                      per side or IMAGE_MAX_PIXELS in all (refused before
 *                      anything is allocated; sizes that libjpeg or libpng
 *                      themselves reject as invalid, over 65500 or 1000000 per
 *                      side, are corrupt).
 *   IMAGE_CORRUPT      empty, cut short or damaged.  Any TurboJPEG warning
 *                      counts: most mean the entropy data is damaged or ends
 *                      early and libjpeg has painted the gap grey, and the API
 *                      does not say which warning it was, so the rare harmless
 *                      ones (extraneous bytes before a marker) are refused too.
 *                      libpng warnings concern ancillary chunks (a bad ICC
 *                      profile, say) and are accepted.
 *
 * A 16-bit PNG without gAMA or sRGB is taken as sRGB, as browsers and PIL
 * take it, not as linear as libpng would by default.  Alpha is composited
 * onto black.
 *
 * Decoding keeps one TurboJPEG handle for the life of the process, so it is
 * not thread-safe: each rank decodes on one thread. */
#ifndef FERRY_IMAGE_H
#define FERRY_IMAGE_H

#include <stddef.h>

#define IMAGE_MAX_SIDE 16384
#define IMAGE_MAX_PIXELS (100LL * 1000 * 1000)

/* width*height*3 bytes of RGB8, row-major. */
struct image {
    int width, height;
    unsigned char *rgb;
};

enum image_status { IMAGE_OK = 0, IMAGE_UNSUPPORTED = 1, IMAGE_CORRUPT = 2 };

/* Decode len bytes into *out (zeroed on failure, so image_free is always
 * safe).  min_side > 0 lets a JPEG decode at the smallest TurboJPEG scaling
 * factor that keeps both sides >= min_side (full size when none does): the
 * DCT does most of the shrinking for free.  PNGs, and min_side 0, give full
 * size.  Returns an enum image_status; why (may be NULL) gets the reason. */
int image_decode(const void *data, size_t len, int min_side, struct image *out, char *why,
                 size_t why_len);
void image_free(struct image *img);

/* The whole image (at least one pixel) stretched to side×side×3 floats in
 * [0,1], channels interleaved (HWC); side >= 1.  Each axis is area-averaged
 * when shrinking and bilinear when enlarging, so the result hardly depends on
 * the JPEG scaling factor the decode used. */
void image_resize_rgb(const struct image *img, int side, float *out);

/* w×h luminance floats in [0,1] (0.299 R + 0.587 G + 0.114 B), resampled as
 * image_resize_rgb does: dHash's 9×8. */
void image_resize_gray(const struct image *img, int w, int h, float *out);

#endif
