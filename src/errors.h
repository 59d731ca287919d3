/* SPDX-License-Identifier: MIT */
/*
 * errors.h - the one strerror of fsindex: a message for any error code a
 * function of this project returns.
 *
 * Errors are negative errno values (STYLE.md section 4).  A few modules give
 * an errno value a meaning of their own, which strerror(3) does not know;
 * each is defined next to the module that returns it and named here:
 *
 *   store.h   STORE_E_FOREIGN, STORE_E_SCHEMA, STORE_E_RO_FEATURE, STORE_E_UNSAFE,
 *             STORE_E_READERLOCK, STORE_E_LOCKED, STORE_E_CORRUPT
 *   ring.h    RING_E_TICK
 *
 * Every other value is a plain errno and reads as strerror(3) has it: -EBUSY
 * is "Device or resource busy" wherever it comes from.  A new code is added
 * to fsi_strerror() in the same commit that defines it.
 */
#ifndef FSINDEX_ERRORS_H
#define FSINDEX_ERRORS_H

#include "store.h"

#include <errno.h>

#ifndef STORE_E_CORRUPT
#define STORE_E_CORRUPT (-EBADMSG)
#endif

/**
 * A message for error @err: a negative errno value or one of the codes
 * above (a positive errno value is taken as its negation).  Returns a string
 * that must not be freed or modified and stays valid for the process's life,
 * except that strerror(3)'s may be overwritten by a later call for an
 * unknown error number.
 */
const char *fsi_strerror(int err);

#endif /* FSINDEX_ERRORS_H */
