/* The versions of ferry and of the libraries it runs on, for --version and
 * bug reports. */
#ifndef FERRY_LIBVERSIONS_H
#define FERRY_LIBVERSIONS_H

#include <stdio.h>

void libversions_print(FILE *out);

#endif
