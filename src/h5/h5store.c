#include "ferry/h5store.h"
#include "ferry/backend.h"
#include "ferry/xalloc.h"

#include <hdf5.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Rows of paths written in one collective call, to bound the buffer. */
#define H5STORE_PATH_SLAB 65536

struct h5store {
    MPI_Comm comm;               /* our own: no other traffic meets the collectives */
    int rank;
    char *file;
    hid_t fid, dxpl;
    long long rows;
    int dim, k;
};

static hid_t mpio_access(MPI_Comm comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    return fapl;
}

static int h5_failed(struct h5store *s, const char *what, struct ferry_error *err)
{
    return err_set(err, FERRY_EFAIL, "%s: %s failed (HDF5)", s->file, what);
}

/* ---- attributes ------------------------------------------------------------ */

static void put_string(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) + 1);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, type, value);
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
}

static void put_int(hid_t obj, const char *name, long long value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, H5T_NATIVE_LLONG, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, H5T_NATIVE_LLONG, &value);
    H5Aclose(attr);
    H5Sclose(space);
}

/* A string attribute (fresh), or NULL when there is none. */
static char *get_string(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0)
        return NULL;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t type = H5Aget_type(attr);
    size_t size = H5Tget_size(type);
    char *value = xcalloc(size + 1, 1);
    hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, size + 1);
    if (H5Aread(attr, mem, value) < 0)
        value[0] = '\0';
    H5Tclose(mem);
    H5Tclose(type);
    H5Aclose(attr);
    return value;
}

static long long get_int(hid_t obj, const char *name, long long missing)
{
    long long value = missing;
    if (H5Aexists(obj, name) <= 0)
        return missing;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (H5Aread(attr, H5T_NATIVE_LLONG, &value) < 0)
        value = missing;
    H5Aclose(attr);
    return value;
}

/* ---- rows -------------------------------------------------------------------- */

/* Select rows (ascending) of a dataset of rank 1 or 2, run by run. */
static void select_rows(hid_t fspace, const long long *rows, size_t n)
{
    hsize_t dims[2] = {0, 1};
    int ndims = H5Sget_simple_extent_dims(fspace, dims, NULL);
    H5Sselect_none(fspace);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && rows[j] == rows[j - 1] + 1)
            j++;
        hsize_t start[2] = {(hsize_t)rows[i], 0}, count[2] = {j - i, ndims > 1 ? dims[1] : 1};
        H5Sselect_hyperslab(fspace, H5S_SELECT_OR, start, NULL, count, NULL);
        i = j;
    }
}

/* Collective write of n rows of width elements of type from buf; a rank
 * with none joins with an empty selection. */
static int write_rows(struct h5store *s, const char *name, const long long *rows, size_t n,
                      hid_t type, const void *buf, struct ferry_error *err)
{
    hid_t dset = H5Dopen2(s->fid, name, H5P_DEFAULT);
    if (dset < 0)
        return h5_failed(s, name, err);
    hid_t fspace = H5Dget_space(dset);
    hsize_t dims[2] = {0, 1};
    int ndims = H5Sget_simple_extent_dims(fspace, dims, NULL);
    select_rows(fspace, rows, n);
    hsize_t mdims[2] = {n > 0 ? n : 1, ndims > 1 ? dims[1] : 1};
    hid_t mspace = H5Screate_simple(ndims, mdims, NULL);
    if (n == 0)
        H5Sselect_none(mspace);
    static const char nothing[16];
    herr_t rc = H5Dwrite(dset, type, mspace, fspace, s->dxpl, n > 0 ? buf : nothing);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(dset);
    return rc < 0 ? h5_failed(s, name, err) : 0;
}

/* Collective read of a whole dataset into buf on every rank. */
static int read_all(struct h5store *s, const char *name, hid_t type, void *buf,
                    struct ferry_error *err)
{
    hid_t dset = H5Dopen2(s->fid, name, H5P_DEFAULT);
    if (dset < 0)
        return h5_failed(s, name, err);
    herr_t rc = s->rows > 0 ? H5Dread(dset, type, H5S_ALL, H5S_ALL, s->dxpl, buf) : 0;
    H5Dclose(dset);
    return rc < 0 ? h5_failed(s, name, err) : 0;
}

/* ---- making the file ------------------------------------------------------- */

/* A dataset allocated now, contiguous; zero-filled when fill is set. */
static hid_t make_dataset(hid_t where, const char *name, hid_t type, long long rows, int width,
                          bool fill)
{
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)width};
    hid_t space = H5Screate_simple(width > 0 ? 2 : 1, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, fill ? H5D_FILL_TIME_ALLOC : H5D_FILL_TIME_NEVER);
    H5Pset_obj_track_times(dcpl, false);    /* runs with any ranks, at any time, give one file */
    hid_t dset = H5Dcreate2(where, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    return dset;
}

static void put_identity(hid_t fid, const struct h5store_identity *id)
{
    put_string(fid, "embedder", id->embedder);
    put_int(fid, "dim", id->dim);
    put_int(fid, "seed", id->seed);
    put_string(fid, "weights_sha256", id->weights_sha256);
    put_string(fid, "inputs_sha256", id->inputs_sha256);
    put_string(fid, "ferry_version", FERRY_VERSION);
}

/* The paths, rank 0's, written in slabs (rank 0 selects, the others join). */
static int write_paths(struct h5store *s, char **paths, int path_max, struct ferry_error *err)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, (size_t)path_max + 1);
    size_t width = (size_t)path_max + 1;
    char *slab = s->rank == 0 ? xmalloc(H5STORE_PATH_SLAB * width) : NULL;
    long long *rows = s->rank == 0 ? xmalloc(H5STORE_PATH_SLAB * sizeof *rows) : NULL;
    int rc = 0;
    for (long long first = 0; rc == 0 && first < s->rows; first += H5STORE_PATH_SLAB) {
        size_t n = 0;
        for (long long r = first; s->rank == 0 && r < s->rows && n < H5STORE_PATH_SLAB; r++) {
            strncpy(slab + n * width, paths[r], width);
            rows[n++] = r;
        }
        rc = write_rows(s, "paths", rows, n, type, slab, err);
    }
    free(slab);
    free(rows);
    H5Tclose(type);
    return rc;
}

/* Collective: the complete file under a temporary name, renamed by rank 0. */
static int make_file(struct h5store *s, char **paths, int path_max,
                     const struct h5store_identity *id, struct ferry_error *err)
{
    char *part = xasprintf("%s%s", s->file, BACKEND_PART_SUFFIX);
    hid_t fapl = mpio_access(s->comm);
    s->fid = H5Fcreate(part, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    int rc = 0;
    if (s->fid < 0) {
        rc = err_set(err, FERRY_EPREFLIGHT, "%s: cannot create it (HDF5)", part);
    } else {
        hid_t str = H5Tcopy(H5T_C_S1);
        H5Tset_size(str, (size_t)path_max + 1);
        hid_t made[4] = {
            make_dataset(s->fid, "paths", str, s->rows, 0, false),
            make_dataset(s->fid, "embeddings", H5T_NATIVE_FLOAT, s->rows, id->dim, false),
            make_dataset(s->fid, "status", H5T_NATIVE_UINT8, s->rows, 0, true),
            make_dataset(s->fid, "done", H5T_NATIVE_UINT8, s->rows, 0, true),
        };
        for (int i = 0; i < 4; i++) {
            if (made[i] < 0)
                rc = h5_failed(s, "creating the datasets", err);
            else
                H5Dclose(made[i]);
        }
        H5Tclose(str);
        put_identity(s->fid, id);
        if (rc == 0)
            rc = write_paths(s, paths, path_max, err);
        if (H5Fclose(s->fid) < 0 && rc == 0)
            rc = h5_failed(s, "closing", err);
        s->fid = -1;
    }
    int renamed = 0;
    if (rc == 0 && s->rank == 0 && rename(part, s->file) != 0)
        renamed = err_sys(err, FERRY_EFAIL, errno, "%s: renaming into place", part);
    MPI_Allreduce(MPI_IN_PLACE, &renamed, 1, MPI_INT, MPI_MIN, s->comm);
    free(part);
    if (rc == 0 && renamed != 0)
        rc = err->code ? err->code : err_set(err, FERRY_EFAIL, "%s: not renamed", s->file);
    return rc;
}

/* What differs between the file's identity and id, or NULL. */
static const char *identity_differs(hid_t fid, const struct h5store_identity *id, long long rows,
                                    long long file_rows)
{
    char *embedder = get_string(fid, "embedder"), *weights = get_string(fid, "weights_sha256");
    char *inputs = get_string(fid, "inputs_sha256");
    const char *why = NULL;
    if (!embedder || strcmp(embedder, id->embedder) != 0)
        why = "another embedder";
    else if (get_int(fid, "dim", -1) != id->dim)
        why = "another dimension (--dim)";
    else if (get_int(fid, "seed", -1) != id->seed)
        why = "another seed";
    else if (!weights || strcmp(weights, id->weights_sha256) != 0)
        why = "other weights";
    else if (file_rows != rows || !inputs || strcmp(inputs, id->inputs_sha256) != 0)
        why = "other inputs (the list of images differs)";
    free(embedder);
    free(weights);
    free(inputs);
    return why;
}

static struct h5store *store_new(MPI_Comm comm, const char *file)
{
    struct h5store *s = xcalloc(1, sizeof *s);
    MPI_Comm_dup(comm, &s->comm);
    MPI_Comm_rank(s->comm, &s->rank);
    s->file = xstrdup(file);
    s->fid = -1;
    s->dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(s->dxpl, H5FD_MPIO_COLLECTIVE);
    /* Errors are reported as ours, naming the file; HDF5's own stack
     * printout would only repeat them less clearly. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return s;
}

static void store_free(struct h5store *s)
{
    if (s->fid >= 0)
        H5Fclose(s->fid);
    H5Pclose(s->dxpl);
    MPI_Comm_free(&s->comm);
    free(s->file);
    free(s);
}

/* Collective: open s->file for reading and writing. */
static int open_file(struct h5store *s, struct ferry_error *err)
{
    hid_t fapl = mpio_access(s->comm);
    s->fid = H5Fopen(s->file, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (s->fid < 0)
        return err_set(err, FERRY_EUSAGE, "%s: not an HDF5 file ferry can open", s->file);
    hid_t dset = H5Dopen2(s->fid, "embeddings", H5P_DEFAULT);
    if (dset < 0)
        return err_set(err, FERRY_EUSAGE, "%s: no embeddings dataset (not made by ferry embed)",
                       s->file);
    hid_t space = H5Dget_space(dset);
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    H5Dclose(dset);
    s->rows = (long long)dims[0];
    s->dim = (int)dims[1];
    return 0;
}

int h5store_create(MPI_Comm comm, const char *file, char **paths, long long n, int path_max,
                   const struct h5store_identity *id, bool overwrite, struct h5store **out,
                   struct ferry_error *err)
{
    struct h5store *s = store_new(comm, file);
    struct stat st;
    int exists = s->rank == 0 && stat(file, &st) == 0;
    MPI_Bcast(&exists, 1, MPI_INT, 0, s->comm);
    int rc = 0;
    if (exists && !overwrite) {
        rc = open_file(s, err);
        const char *why = rc == 0 ? identity_differs(s->fid, id, n, s->rows) : NULL;
        if (why)
            rc = err_set(err, FERRY_EUSAGE, "%s was made with %s; pass --overwrite to start it "
                         "afresh (or choose another --out)", file, why);
    } else {
        s->rows = n;
        s->dim = id->dim;
        rc = make_file(s, paths, path_max, id, err);
        if (rc == 0)
            rc = open_file(s, err);
    }
    if (rc != 0) {
        store_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int h5store_open(MPI_Comm comm, const char *file, struct h5store **out, long long *rows, int *dim,
                 struct ferry_error *err)
{
    struct h5store *s = store_new(comm, file);
    int rc = open_file(s, err);
    if (rc != 0) {
        store_free(s);
        return rc;
    }
    *rows = s->rows;
    *dim = s->dim;
    *out = s;
    return 0;
}

static char *done_name(const char *which)
{
    return *which ? xasprintf("%s/done", which) : xstrdup("done");
}

int h5store_read_done(struct h5store *s, const char *which, unsigned char *done,
                      struct ferry_error *err)
{
    char *name = done_name(which);
    int rc = read_all(s, name, H5T_NATIVE_UINT8, done, err);
    free(name);
    return rc;
}

int h5store_write_embeddings(struct h5store *s, const long long *rows, size_t n,
                             const float *embeddings, const unsigned char *status,
                             struct ferry_error *err)
{
    int rc = write_rows(s, "embeddings", rows, n, H5T_NATIVE_FLOAT, embeddings, err);
    if (rc == 0)
        rc = write_rows(s, "status", rows, n, H5T_NATIVE_UINT8, status, err);
    return rc;
}

int h5store_commit(struct h5store *s, const char *which, const long long *rows, size_t n,
                   struct ferry_error *err)
{
    if (H5Fflush(s->fid, H5F_SCOPE_GLOBAL) < 0)
        return h5_failed(s, "flushing", err);
    unsigned char *ones = xmalloc(n > 0 ? n : 1);
    memset(ones, 1, n);
    char *name = done_name(which);
    int rc = write_rows(s, name, rows, n, H5T_NATIVE_UINT8, ones, err);
    free(name);
    free(ones);
    if (rc == 0 && H5Fflush(s->fid, H5F_SCOPE_GLOBAL) < 0)
        rc = h5_failed(s, "flushing", err);
    return rc;
}

int h5store_read_embeddings(struct h5store *s, float *embeddings, unsigned char *status,
                            struct ferry_error *err)
{
    int rc = read_all(s, "embeddings", H5T_NATIVE_FLOAT, embeddings, err);
    if (rc == 0 && status)
        rc = read_all(s, "status", H5T_NATIVE_UINT8, status, err);
    return rc;
}

int h5store_read_paths(struct h5store *s, char ***paths, struct ferry_error *err)
{
    hid_t dset = H5Dopen2(s->fid, "paths", H5P_DEFAULT);
    if (dset < 0)
        return h5_failed(s, "paths", err);
    hid_t type = H5Dget_type(dset);
    size_t width = H5Tget_size(type);
    char *all = xcalloc((size_t)s->rows + 1, width);
    herr_t rc = s->rows > 0 ? H5Dread(dset, type, H5S_ALL, H5S_ALL, s->dxpl, all) : 0;
    H5Tclose(type);
    H5Dclose(dset);
    if (rc < 0) {
        free(all);
        return h5_failed(s, "reading paths", err);
    }
    *paths = xcalloc((size_t)s->rows + 1, sizeof **paths);
    for (long long r = 0; r < s->rows; r++)
        (*paths)[r] = xstrndup(all + (size_t)r * width, width);
    free(all);
    return 0;
}

/* Collective: drop the knn group (another k or metric, or --overwrite). */
static void knn_drop(struct h5store *s)
{
    if (H5Lexists(s->fid, "knn", H5P_DEFAULT) > 0)
        H5Ldelete(s->fid, "knn", H5P_DEFAULT);
}

int h5store_knn_begin(struct h5store *s, int k, const char *metric, bool overwrite,
                      struct ferry_error *err)
{
    s->k = k;
    if (H5Lexists(s->fid, "knn", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(s->fid, "knn", H5P_DEFAULT);
        char *had = get_string(g, "metric");
        bool same = get_int(g, "k", -1) == k && had && strcmp(had, metric) == 0;
        H5Gclose(g);
        free(had);
        if (same && !overwrite)
            return 0;
        if (!overwrite)
            return err_set(err, FERRY_EUSAGE, "%s: its knn tables were made with another k or "
                           "metric; pass --overwrite to compute them afresh", s->file);
        knn_drop(s);
    }
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(gcpl, false);
    hid_t g = H5Gcreate2(s->fid, "knn", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (g < 0)
        return h5_failed(s, "creating /knn", err);
    hid_t made[3] = {
        make_dataset(g, "indices", H5T_NATIVE_LLONG, s->rows, k, false),
        make_dataset(g, "distances", H5T_NATIVE_FLOAT, s->rows, k, false),
        make_dataset(g, "done", H5T_NATIVE_UINT8, s->rows, 0, true),
    };
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        if (made[i] < 0)
            rc = h5_failed(s, "creating the knn datasets", err);
        else
            H5Dclose(made[i]);
    }
    put_int(g, "k", k);
    put_string(g, "metric", metric);
    H5Gclose(g);
    return rc;
}

int h5store_write_knn(struct h5store *s, const long long *rows, size_t n,
                      const long long *indices, const float *distances, struct ferry_error *err)
{
    int rc = write_rows(s, "knn/indices", rows, n, H5T_NATIVE_LLONG, indices, err);
    if (rc == 0)
        rc = write_rows(s, "knn/distances", rows, n, H5T_NATIVE_FLOAT, distances, err);
    return rc;
}

int h5store_close(struct h5store *s, struct ferry_error *err)
{
    if (!s)
        return 0;
    int rc = 0;
    if (s->fid >= 0 && H5Fclose(s->fid) < 0)
        rc = h5_failed(s, "closing", err);
    s->fid = -1;
    store_free(s);
    return rc;
}

int h5store_progress(const char *file, const char *which, long long *rows, long long *done,
                     struct ferry_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0)
        return err_set(err, FERRY_ENOTFOUND, "%s: no such HDF5 file yet", file);
    char *name = done_name(which);
    *rows = *done = 0;
    hid_t dset = H5Lexists(fid, "done", H5P_DEFAULT) > 0 && (!*which ||
                 H5Lexists(fid, which, H5P_DEFAULT) > 0) ? H5Dopen2(fid, name, H5P_DEFAULT) : -1;
    int rc = 0;
    if (dset >= 0) {
        hid_t space = H5Dget_space(dset);
        hsize_t n = 0;
        H5Sget_simple_extent_dims(space, &n, NULL);
        unsigned char *mask = xmalloc(n + 1);
        if (n > 0 && H5Dread(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask) < 0)
            rc = err_set(err, FERRY_EFAIL, "%s: reading %s failed (HDF5)", file, name);
        for (hsize_t i = 0; rc == 0 && i < n; i++)
            *done += mask[i] != 0;
        *rows = (long long)n;
        free(mask);
        H5Sclose(space);
        H5Dclose(dset);
    }
    free(name);
    H5Fclose(fid);
    return rc;
}

static void copy_attr(hid_t obj, const char *name, char *out, size_t len)
{
    char *value = get_string(obj, name);
    snprintf(out, len, "%s", value ? value : "");
    free(value);
}

int h5store_summarize(const char *file, struct h5store_summary *out, struct ferry_error *err)
{
    memset(out, 0, sizeof *out);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) {
        bool exists = access(file, F_OK) == 0;
        return err_set(err, exists ? FERRY_EUSAGE : FERRY_ENOTFOUND, "%s: %s", file,
                       exists ? "not an HDF5 file" : "no such file");
    }
    bool ours = H5Lexists(fid, "done", H5P_DEFAULT) > 0 && H5Aexists(fid, "embedder") > 0;
    if (ours) {
        copy_attr(fid, "embedder", out->embedder, sizeof out->embedder);
        out->dim = (int)get_int(fid, "dim", 0);
        out->knn = H5Lexists(fid, "knn", H5P_DEFAULT) > 0;
    }
    if (out->knn) {
        hid_t g = H5Gopen2(fid, "knn", H5P_DEFAULT);
        out->k = (int)get_int(g, "k", 0);
        copy_attr(g, "metric", out->metric, sizeof out->metric);
        H5Gclose(g);
    }
    H5Fclose(fid);
    if (!ours)
        return err_set(err, FERRY_EUSAGE, "%s: not an embeddings file of ferry embed", file);
    long long knn_rows;
    int rc = h5store_progress(file, "", &out->rows, &out->done, err);
    if (rc == 0 && out->knn)
        rc = h5store_progress(file, "knn", &knn_rows, &out->knn_done, err);
    return rc;
}
