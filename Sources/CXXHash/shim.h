#ifndef SPILLWAY_CXXHASH_SHIM_H
#define SPILLWAY_CXXHASH_SHIM_H
/* Expose the XXH3 state struct and XXH3_generateSecret (deriving a keyed secret from deployment
   key material). */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* On x86_64, libxxhash also exports *_dispatch entry points that pick the widest vector unit
   (SSE2, AVX2, AVX-512) at run time, as xxhsum does; the plain entry points are built for the
   baseline ISA only. Spillway calls through these wrappers so it gets the dispatching ones where
   they exist. */
#if defined(__x86_64__) && defined(__has_include)
#  if __has_include(<xxh_x86dispatch.h>)
#    include <xxh_x86dispatch.h>
#    define SPILLWAY_XXH_DISPATCH 1
#  endif
#endif

static inline XXH64_hash_t spillway_xxh3_64_seed(const void* p, size_t n, XXH64_hash_t seed) {
#ifdef SPILLWAY_XXH_DISPATCH
    return XXH3_64bits_withSeed_dispatch(p, n, seed);
#else
    return XXH3_64bits_withSeed(p, n, seed);
#endif
}

static inline XXH64_hash_t spillway_xxh3_64_secret(const void* p, size_t n, const void* s, size_t sn) {
#ifdef SPILLWAY_XXH_DISPATCH
    return XXH3_64bits_withSecret_dispatch(p, n, s, sn);
#else
    return XXH3_64bits_withSecret(p, n, s, sn);
#endif
}

static inline XXH128_hash_t spillway_xxh3_128_seed(const void* p, size_t n, XXH64_hash_t seed) {
#ifdef SPILLWAY_XXH_DISPATCH
    return XXH3_128bits_withSeed_dispatch(p, n, seed);
#else
    return XXH3_128bits_withSeed(p, n, seed);
#endif
}

static inline XXH128_hash_t spillway_xxh3_128_secret(const void* p, size_t n, const void* s, size_t sn) {
#ifdef SPILLWAY_XXH_DISPATCH
    return XXH3_128bits_withSecret_dispatch(p, n, s, sn);
#else
    return XXH3_128bits_withSecret(p, n, s, sn);
#endif
}

static inline XXH_errorcode spillway_xxh3_update(XXH3_state_t* state, const void* p, size_t n) {
#ifdef SPILLWAY_XXH_DISPATCH
    return XXH3_128bits_update_dispatch(state, p, n);
#else
    return XXH3_128bits_update(state, p, n);
#endif
}
#endif
