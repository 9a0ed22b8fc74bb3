#ifndef SPILLWAY_CXXHASH_SHIM_H
#define SPILLWAY_CXXHASH_SHIM_H
/* Expose the XXH3 state struct so streaming states can live inline in Swift values,
   and XXH3_generateSecret for deriving a keyed secret from deployment key material. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#endif
