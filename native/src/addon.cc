// SPDX-License-Identifier: Apache-2.0
// Module entry: registers exports only.
#include <napi.h>

#include "bpf_object.h"
#include "errors.h"
#include "features.h"
#include "ring_reader.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ft::InstallLibbpfPrint();
  exports.Set("BpfObject", ft::BpfObject::Init(env));
  exports.Set("RingReader", ft::RingReader::Init(env));
  ft::InitFeatures(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(fleettrace_native, Init)
