// SPDX-License-Identifier: Apache-2.0
// Kernel feature probes and process-wide BPF facilities (no object needed).
#pragma once

#include <napi.h>

namespace ft {

// Adds probeProgramTypes, probeMapTypes, kernelHelpers, probeHelper,
// probePerfEvent, enableRunTimeStats, closeFd, numPossibleCpus, libbpfVersion,
// bootTimeOffsetNs.
void InitFeatures(Napi::Env env, Napi::Object exports);

}  // namespace ft
