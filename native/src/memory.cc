// SPDX-License-Identifier: Apache-2.0
#include "memory.h"

#include <malloc.h>

#include <cstdlib>

namespace ft {

void LimitMallocArenas(int arenas) {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, arenas);
}

namespace {

// mallocInfo(): {arenaBytes, mmappedBytes, inUseBytes, freeBytes, releasableBytes} from mallinfo2(3).
Napi::Value MallocInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct mallinfo2 m = mallinfo2();
  Napi::Object out = Napi::Object::New(env);
  out.Set("arenaBytes", static_cast<double>(m.arena));
  out.Set("mmappedBytes", static_cast<double>(m.hblkhd));
  out.Set("inUseBytes", static_cast<double>(m.uordblks + m.hblkhd));
  out.Set("freeBytes", static_cast<double>(m.fordblks));
  out.Set("releasableBytes", static_cast<double>(m.keepcost));
  return out;
}

// mallocTrim(): returns free C heap pages of every arena to the kernel (malloc_trim(3)); true when some were.
Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("mallocInfo", Napi::Function::New(env, MallocInfo, "mallocInfo"));
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim, "mallocTrim"));
}

}  // namespace ft
