// SPDX-License-Identifier: Apache-2.0
// BpfObject: one libbpf object (open -> configure -> load -> attach -> close).
#pragma once

#include <napi.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

struct bpf_object;
struct bpf_map;
struct bpf_program;
struct bpf_link;

namespace ft {

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Init(Napi::Env env);

  // JS: new BpfObject(bytes: Buffer, name: string). Main thread.
  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() override;

 private:
  friend class LoadWorker;

  // Every method below runs on the main thread unless its comment says otherwise.
  Napi::Value SetConstant(const Napi::CallbackInfo& info);
  Napi::Value SetMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value SetAutoload(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value AttachPerfEvent(const Napi::CallbackInfo& info);
  Napi::Value CountPerfEvent(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  Napi::Value AttachTracepoint(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value MapFd(const Napi::CallbackInfo& info);
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  Napi::Value MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  Napi::Value MapDump(const Napi::CallbackInfo& info);
  Napi::Value ProgramStats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void CloseAll();
  void RequireOpen(Napi::Env env, const char* op) const;
  void RequireLoaded(Napi::Env env, const char* op) const;
  struct bpf_map* FindMap(Napi::Env env, const Napi::Value& name) const;
  struct bpf_program* FindProgram(Napi::Env env, const Napi::Value& name) const;
  int AddLink(struct bpf_link* link);

  std::string name_;
  std::vector<uint8_t> bytes_;  // libbpf parses the ELF in place: keep it alive
  struct bpf_object* obj_ = nullptr;
  bool loading_ = false;
  bool loaded_ = false;
  int next_link_id_ = 1;
  std::map<int, struct bpf_link*> links_;
  std::vector<int> counter_fds_;  // counting perf events stored in perf event arrays
};

}  // namespace ft
