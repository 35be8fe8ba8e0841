// SPDX-License-Identifier: Apache-2.0
// The C heap of the process (glibc malloc): its figures, trimming, arena limit.
#ifndef FT_NATIVE_MEMORY_H
#define FT_NATIVE_MEMORY_H

#include <napi.h>

namespace ft {

// Limits malloc to `arenas` arenas when MALLOC_ARENA_MAX is not set (threads
// started later share them instead of each holding up to 64 MiB).
void LimitMallocArenas(int arenas);

void InitMemory(Napi::Env env, Napi::Object exports);

}  // namespace ft

#endif  // FT_NATIVE_MEMORY_H
