// SPDX-License-Identifier: Apache-2.0
// Module entry: registers exports only.
#include <napi.h>

#include "bpf_object.h"
#include "errors.h"
#include "features.h"
#include "memory.h"
#include "ring_reader.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ft::InstallLibbpfPrint();
  // Node's worker threads would otherwise each get a malloc arena that keeps what they freed.
  ft::LimitMallocArenas(2);
  exports.Set("BpfObject", ft::BpfObject::Init(env));
  exports.Set("RingReader", ft::RingReader::Init(env));
  ft::InitFeatures(env, exports);
  ft::InitMemory(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(fleettrace_native, Init)
