// SPDX-License-Identifier: Apache-2.0
#include "features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>

#include "errors.h"

namespace ft {

namespace {

// Every method here runs on the main thread; each probe loads a tiny program
// or creates a tiny map and takes well under a millisecond.

// probeProgramTypes(): {"kprobe": true, "tracing": false, ...} for every type libbpf knows.
Napi::Value ProbeProgramTypes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  for (int t = 1; t < 64; t++) {
    const char* name = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(t));
    if (name == nullptr) break;
    out.Set(name, libbpf_probe_bpf_prog_type(static_cast<enum bpf_prog_type>(t), nullptr) == 1);
  }
  return out;
}

Napi::Value ProbeMapTypes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  for (int t = 1; t < 64; t++) {
    const char* name = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(t));
    if (name == nullptr) break;
    out.Set(name, libbpf_probe_bpf_map_type(static_cast<enum bpf_map_type>(t), nullptr) == 1);
  }
  return out;
}

// kernelHelpers(): {"ringbuf_reserve": 131, ...} from the running kernel's BTF
// (enum bpf_func_id), so helper numbers never come from a table of ours.
Napi::Value KernelHelpers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct btf* btf = btf__load_vmlinux_btf();
  if (btf == nullptr) throw ErrnoError(env, "load kernel BTF", errno);
  Napi::Object out = Napi::Object::New(env);
  int id = btf__find_by_name_kind(btf, "bpf_func_id", BTF_KIND_ENUM);
  if (id > 0) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); i++, e++) {
      std::string name = btf__name_by_offset(btf, e->name_off);
      if (name.rfind("BPF_FUNC_", 0) != 0 || name == "BPF_FUNC_unspec") continue;
      out.Set(name.substr(9), e->val);
    }
  }
  btf__free(btf);
  return out;
}

// probeHelper(programType, helperId): whether programs of that type may call the helper.
Napi::Value ProbeHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "probeHelper(programType: string, helperId: number)");
  std::string wanted = info[0].As<Napi::String>().Utf8Value();
  for (int t = 1; t < 64; t++) {
    const char* name = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(t));
    if (name == nullptr) break;
    if (wanted != name) continue;
    int r = libbpf_probe_bpf_helper(static_cast<enum bpf_prog_type>(t),
                                    static_cast<enum bpf_func_id>(info[1].As<Napi::Number>().Int32Value()),
                                    nullptr);
    return Napi::Boolean::New(env, r == 1);
  }
  throw Napi::TypeError::New(env, "unknown program type " + wanted);
}

// probePerfEvent(type, config): 0 when a counting event opens on CPU 0, else the errno.
Napi::Value ProbePerfEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "probePerfEvent(type: number, config: number)");
  struct perf_event_attr attr = {};
  attr.size = sizeof(attr);
  attr.type = info[0].As<Napi::Number>().Uint32Value();
  attr.config = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  attr.disabled = 1;
  int fd = static_cast<int>(syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return Napi::Number::New(env, errno);
  close(fd);
  return Napi::Number::New(env, 0);
}

// enableRunTimeStats(): an fd that keeps BPF run-time accounting on for as long
// as it is open (BPF_ENABLE_STATS, 5.8), instead of the global sysctl.
Napi::Value EnableRunTimeStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) throw ErrnoError(env, "bpf_enable_stats(BPF_STATS_RUN_TIME)", errno);
  return Napi::Number::New(env, fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "fd must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 3) throw Napi::RangeError::New(env, "refusing to close fd " + std::to_string(fd));
  if (close(fd) != 0) throw ErrnoError(env, "close", errno);
  return env.Undefined();
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) throw ErrnoError(info.Env(), "libbpf_num_possible_cpus", -n);
  return Napi::Number::New(info.Env(), n);
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(),
                           std::to_string(libbpf_major_version()) + "." + std::to_string(libbpf_minor_version()));
}

// bootTimeOffsetNs(): CLOCK_REALTIME - CLOCK_BOOTTIME in ns as a BigInt, taken
// from the tightest of several REALTIME/BOOTTIME/REALTIME brackets. BPF stamps
// events with bpf_ktime_get_boot_ns(); adding this gives UTC Unix ns. The
// offset moves with NTP steps and slews, so callers re-measure it.
Napi::Value BootTimeOffsetNs(const Napi::CallbackInfo& info) {
  auto ns = [](clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  };
  int64_t best_window = INT64_MAX, offset = 0;
  for (int i = 0; i < 7; i++) {
    int64_t r1 = ns(CLOCK_REALTIME), b = ns(CLOCK_BOOTTIME), r2 = ns(CLOCK_REALTIME);
    if (r2 - r1 < best_window) {
      best_window = r2 - r1;
      offset = r1 + (r2 - r1) / 2 - b;
    }
  }
  return Napi::BigInt::New(info.Env(), offset);
}

}  // namespace

void InitFeatures(Napi::Env env, Napi::Object exports) {
  exports.Set("probeProgramTypes", Napi::Function::New<ProbeProgramTypes>(env));
  exports.Set("probeMapTypes", Napi::Function::New<ProbeMapTypes>(env));
  exports.Set("kernelHelpers", Napi::Function::New<KernelHelpers>(env));
  exports.Set("probeHelper", Napi::Function::New<ProbeHelper>(env));
  exports.Set("probePerfEvent", Napi::Function::New<ProbePerfEvent>(env));
  exports.Set("enableRunTimeStats", Napi::Function::New<EnableRunTimeStats>(env));
  exports.Set("closeFd", Napi::Function::New<CloseFd>(env));
  exports.Set("numPossibleCpus", Napi::Function::New<NumPossibleCpus>(env));
  exports.Set("libbpfVersion", Napi::Function::New<LibbpfVersion>(env));
  exports.Set("bootTimeOffsetNs", Napi::Function::New<BootTimeOffsetNs>(env));
}

}  // namespace ft
