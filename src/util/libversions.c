#include "ferry/libversions.h"

#include <archive.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <hdf5.h>
#include <mpi.h>
#include <openssl/crypto.h>
#include <string.h>

void libversions_print(FILE *out)
{
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(mpi, &len);
    /* Open MPI's string runs over several lines; the first says enough. */
    mpi[strcspn(mpi, "\n,")] = '\0';
    unsigned h5_major, h5_minor, h5_release;
    H5get_libversion(&h5_major, &h5_minor, &h5_release);

    fprintf(out, "ferry %s\n", FERRY_VERSION);
    fprintf(out, "  MPI:        %s\n", mpi);
    fprintf(out, "  HDF5:       %u.%u.%u (parallel)\n", h5_major, h5_minor, h5_release);
    fprintf(out, "  libcurl:    %s\n", curl_version());
    fprintf(out, "  OpenSSL:    %s\n", OpenSSL_version(OPENSSL_VERSION));
    fprintf(out, "  cJSON:      %s\n", cJSON_Version());
    fprintf(out, "  libarchive: %s\n", archive_version_details());
}
