// SPDX-License-Identifier: Apache-2.0
#include "bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "errors.h"

namespace ft {

namespace {

bool IsPerCpu(enum bpf_map_type type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

// Bytes user space exchanges per value: per-CPU maps hold one 8-byte-aligned
// slot per possible CPU (kernel/bpf/syscall.c: bpf_map_value_size).
size_t UserValueSize(const struct bpf_map* map) {
  size_t size = bpf_map__value_size(map);
  if (IsPerCpu(bpf_map__type(map))) {
    size = (size + 7) & ~size_t{7};
    size *= static_cast<size_t>(libbpf_num_possible_cpus());
  }
  return size;
}

Napi::Buffer<uint8_t> CopyBuffer(Napi::Env env, const std::vector<uint8_t>& bytes, size_t n) {
  return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), n);
}

std::vector<int> OnlineCpus() {
  std::vector<int> cpus;
  std::ifstream file("/sys/devices/system/cpu/online");
  std::string spec;
  std::getline(file, spec);
  std::stringstream ranges(spec);
  std::string range;
  while (std::getline(ranges, range, ',')) {
    if (range.empty()) continue;
    size_t dash = range.find('-');
    int lo = std::stoi(range.substr(0, dash));
    int hi = dash == std::string::npos ? lo : std::stoi(range.substr(dash + 1));
    for (int cpu = lo; cpu <= hi; cpu++) cpus.push_back(cpu);
  }
  return cpus;
}

// "prog 'ft_x': failed to load" in libbpf's log names the program the verifier refused.
std::string FailedProgramName(const std::string& log) {
  static const char kNeedle[] = "': failed to load";
  size_t end = log.find(kNeedle);
  if (end == std::string::npos) return "";
  size_t begin = log.rfind("prog '", end);
  if (begin == std::string::npos) return "";
  begin += 6;
  return log.substr(begin, end - begin);
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v < 0 || v > 4294967295.0 || v != static_cast<double>(static_cast<uint64_t>(v)))
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an integer in 0..2^32-1");
  return static_cast<uint32_t>(v);
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsBuffer()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

}  // namespace

// Loads the object on a thread-pool thread: the verifier can take long on big programs.
class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, BpfObject* owner)
      : Napi::AsyncWorker(env), owner_(owner), deferred_(Napi::Promise::Deferred::New(env)) {
    owner_->Ref();
  }
  ~LoadWorker() override { owner_->Unref(); }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  // Thread pool thread: touches only the libbpf object, which JS cannot use while loading_.
  void Execute() override {
    LogCapture capture;
    int err = bpf_object__load(owner_->obj_);
    if (err != 0) {
      err_ = err < 0 ? -err : err;
      log_ = capture.VerifierLog();
      program_ = FailedProgramName(capture.text());
      SetError("load failed");
    }
  }

  void OnOK() override {
    owner_->loading_ = false;
    owner_->loaded_ = true;
    deferred_.Resolve(Env().Undefined());
  }

  void OnError(const Napi::Error&) override {
    owner_->loading_ = false;
    std::string op = "load " + owner_->name_;
    if (!program_.empty()) op += " program " + program_;
    Napi::Error error = ErrnoError(Env(), op, err_, log_.empty() ? "" : "verifier log attached");
    error.Set("program", Napi::String::New(Env(), program_));
    error.Set("log", Napi::String::New(Env(), log_));
    deferred_.Reject(error.Value());
  }

 private:
  BpfObject* owner_;
  Napi::Promise::Deferred deferred_;
  int err_ = 0;
  std::string log_;
  std::string program_;
};

Napi::Function BpfObject::Init(Napi::Env env) {
  return DefineClass(
      env, "BpfObject",
      {
          InstanceMethod<&BpfObject::SetConstant>("setConstant"),
          InstanceMethod<&BpfObject::SetMaxEntries>("setMaxEntries"),
          InstanceMethod<&BpfObject::SetAutoload>("setAutoload"),
          InstanceMethod<&BpfObject::Load>("load"),
          InstanceMethod<&BpfObject::Programs>("programs"),
          InstanceMethod<&BpfObject::Maps>("maps"),
          InstanceMethod<&BpfObject::Attach>("attach"),
          InstanceMethod<&BpfObject::AttachPerfEvent>("attachPerfEvent"),
          InstanceMethod<&BpfObject::CountPerfEvent>("countPerfEvent"),
          InstanceMethod<&BpfObject::AttachUprobe>("attachUprobe"),
          InstanceMethod<&BpfObject::AttachTracepoint>("attachTracepoint"),
          InstanceMethod<&BpfObject::Detach>("detach"),
          InstanceMethod<&BpfObject::MapFd>("mapFd"),
          InstanceMethod<&BpfObject::MapLookup>("mapLookup"),
          InstanceMethod<&BpfObject::MapUpdate>("mapUpdate"),
          InstanceMethod<&BpfObject::MapDelete>("mapDelete"),
          InstanceMethod<&BpfObject::MapDump>("mapDump"),
          InstanceMethod<&BpfObject::ProgramStats>("programStats"),
          InstanceMethod<&BpfObject::Close>("close"),
      });
}

BpfObject::BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> bytes = ArgBuffer(info, 0, "bytes");
  if (!info[1].IsString()) throw Napi::TypeError::New(env, "name must be a string");
  name_ = info[1].As<Napi::String>().Utf8Value();
  bytes_.assign(bytes.Data(), bytes.Data() + bytes.Length());
  LogCapture capture;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name_.c_str());
  obj_ = bpf_object__open_mem(bytes_.data(), bytes_.size(), &opts);
  if (obj_ == nullptr) {
    int err = errno;
    Napi::Error error = ErrnoError(env, "open " + name_, err);
    error.Set("log", Napi::String::New(env, capture.text()));
    throw error;
  }
}

BpfObject::~BpfObject() { CloseAll(); }

void BpfObject::CloseAll() {
  for (auto& entry : links_) bpf_link__destroy(entry.second);
  links_.clear();
  for (int fd : counter_fds_) close(fd);
  counter_fds_.clear();
  if (obj_ != nullptr) bpf_object__close(obj_);
  obj_ = nullptr;
  loaded_ = false;
}

void BpfObject::RequireOpen(Napi::Env env, const char* op) const {
  if (obj_ == nullptr) throw Napi::Error::New(env, std::string(op) + ": object " + name_ + " is closed");
  if (loading_) throw Napi::Error::New(env, std::string(op) + ": object " + name_ + " is loading");
}

void BpfObject::RequireLoaded(Napi::Env env, const char* op) const {
  RequireOpen(env, op);
  if (!loaded_) throw Napi::Error::New(env, std::string(op) + ": object " + name_ + " is not loaded");
}

struct bpf_map* BpfObject::FindMap(Napi::Env env, const Napi::Value& name) const {
  if (!name.IsString()) throw Napi::TypeError::New(env, "map name must be a string");
  std::string wanted = name.As<Napi::String>().Utf8Value();
  struct bpf_map* map = bpf_object__find_map_by_name(obj_, wanted.c_str());
  if (map == nullptr) throw Napi::Error::New(env, "object " + name_ + " has no map named " + wanted);
  return map;
}

struct bpf_program* BpfObject::FindProgram(Napi::Env env, const Napi::Value& name) const {
  if (!name.IsString()) throw Napi::TypeError::New(env, "program name must be a string");
  std::string wanted = name.As<Napi::String>().Utf8Value();
  struct bpf_program* prog = bpf_object__find_program_by_name(obj_, wanted.c_str());
  if (prog == nullptr) throw Napi::Error::New(env, "object " + name_ + " has no program named " + wanted);
  return prog;
}

int BpfObject::AddLink(struct bpf_link* link) {
  int id = next_link_id_++;
  links_[id] = link;
  return id;
}

// setConstant(name, bytes): overwrites a `const volatile` global in .rodata before load.
Napi::Value BpfObject::SetConstant(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "setConstant");
  if (loaded_) throw Napi::Error::New(env, "setConstant: object " + name_ + " is already loaded");
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "constant name must be a string");
  std::string wanted = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> value = ArgBuffer(info, 1, "value");

  const struct btf* btf = bpf_object__btf(obj_);
  int sec_id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
  if (sec_id < 0) throw Napi::Error::New(env, "setConstant: object " + name_ + " has no .rodata section");
  const struct btf_type* sec = btf__type_by_id(btf, sec_id);
  const struct btf_var_secinfo* vsi = btf_var_secinfos(sec);
  for (int i = 0; i < btf_vlen(sec); i++, vsi++) {
    const struct btf_type* var = btf__type_by_id(btf, vsi->type);
    if (wanted != btf__name_by_offset(btf, var->name_off)) continue;
    if (value.Length() != vsi->size)
      throw Napi::TypeError::New(env, "setConstant: " + wanted + " is " + std::to_string(vsi->size) +
                                          " bytes, got " + std::to_string(value.Length()));
    struct bpf_map* map = nullptr;
    bpf_object__for_each_map(map, obj_) {
      const char* map_name = bpf_map__name(map);
      if (bpf_map__is_internal(map) && std::strstr(map_name, ".rodata") != nullptr) break;
    }
    if (map == nullptr) throw Napi::Error::New(env, "setConstant: no .rodata map in " + name_);
    size_t size = 0;
    const void* current = bpf_map__initial_value(map, &size);
    if (current == nullptr || vsi->offset + vsi->size > size)
      throw Napi::Error::New(env, "setConstant: .rodata of " + name_ + " is not writable");
    std::vector<uint8_t> data(static_cast<const uint8_t*>(current), static_cast<const uint8_t*>(current) + size);
    std::memcpy(data.data() + vsi->offset, value.Data(), vsi->size);
    int err = bpf_map__set_initial_value(map, data.data(), size);
    if (err) throw ErrnoError(env, "setConstant " + wanted, err);
    return env.Undefined();
  }
  throw Napi::Error::New(env, "setConstant: object " + name_ + " has no constant named " + wanted);
}

// setMaxEntries(map, n): before load; also resizes the inner-map template of a map-in-map.
Napi::Value BpfObject::SetMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "setMaxEntries");
  if (loaded_) throw Napi::Error::New(env, "setMaxEntries: object " + name_ + " is already loaded");
  struct bpf_map* map = FindMap(env, info[0]);
  uint32_t n = ArgU32(info, 1, "maxEntries");
  int err = bpf_map__set_max_entries(map, n);
  if (err) throw ErrnoError(env, std::string("setMaxEntries ") + bpf_map__name(map), err);
  return env.Undefined();
}

Napi::Value BpfObject::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "setAutoload");
  struct bpf_program* prog = FindProgram(env, info[0]);
  if (!info[1].IsBoolean()) throw Napi::TypeError::New(env, "autoload must be a boolean");
  int err = bpf_program__set_autoload(prog, info[1].As<Napi::Boolean>().Value());
  if (err) throw ErrnoError(env, std::string("setAutoload ") + bpf_program__name(prog), err);
  return env.Undefined();
}

// load(): Promise<void>; the verifier runs on a thread-pool thread (LoadWorker).
Napi::Value BpfObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "load");
  if (loaded_) throw Napi::Error::New(env, "load: object " + name_ + " is already loaded");
  loading_ = true;
  auto* worker = new LoadWorker(env, this);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value BpfObject::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "programs");
  Napi::Array out = Napi::Array::New(env);
  struct bpf_program* prog = nullptr;
  uint32_t i = 0;
  bpf_object__for_each_program(prog, obj_) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("name", bpf_program__name(prog));
    p.Set("section", bpf_program__section_name(prog));
    const char* type = libbpf_bpf_prog_type_str(bpf_program__type(prog));
    p.Set("type", type ? type : "unknown");
    p.Set("fd", bpf_program__fd(prog));
    p.Set("autoload", bpf_program__autoload(prog));
    uint32_t id = 0;
    if (bpf_program__fd(prog) >= 0) {
      struct bpf_prog_info pinfo = {};
      uint32_t len = sizeof(pinfo);
      if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &pinfo, &len) == 0) id = pinfo.id;
    }
    p.Set("id", id);
    out.Set(i++, p);
  }
  return out;
}

Napi::Value BpfObject::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "maps");
  Napi::Array out = Napi::Array::New(env);
  struct bpf_map* map = nullptr;
  uint32_t i = 0;
  bpf_object__for_each_map(map, obj_) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("name", bpf_map__name(map));
    const char* type = libbpf_bpf_map_type_str(bpf_map__type(map));
    m.Set("type", type ? type : "unknown");
    m.Set("fd", bpf_map__fd(map));
    m.Set("keySize", bpf_map__key_size(map));
    m.Set("valueSize", bpf_map__value_size(map));
    m.Set("userValueSize", static_cast<double>(UserValueSize(map)));
    m.Set("maxEntries", bpf_map__max_entries(map));
    m.Set("perCpu", IsPerCpu(bpf_map__type(map)));
    out.Set(i++, m);
  }
  return out;
}

// attach(program): attaches by the program's section (tracepoint, raw_tp, tp_btf, ...).
Napi::Value BpfObject::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "attach");
  struct bpf_program* prog = FindProgram(env, info[0]);
  LogCapture capture;
  struct bpf_link* link = bpf_program__attach(prog);
  if (link == nullptr) {
    Napi::Error error = ErrnoError(env, std::string("attach ") + bpf_program__name(prog) + " (" +
                                            bpf_program__section_name(prog) + ")",
                                   errno);
    error.Set("log", Napi::String::New(env, capture.text()));
    throw error;
  }
  return Napi::Number::New(env, AddLink(link));
}

// attachTracepoint(program, category, name): a tracepoint named at run time (a
// program whose section names none, e.g. SEC("tracepoint")). Returns the link id.
Napi::Value BpfObject::AttachTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "attachTracepoint");
  struct bpf_program* prog = FindProgram(env, info[0]);
  if (!info[1].IsString() || !info[2].IsString())
    throw Napi::TypeError::New(env, "tracepoint category and name must be strings");
  std::string category = info[1].As<Napi::String>();
  std::string name = info[2].As<Napi::String>();
  LogCapture capture;
  struct bpf_link* link = bpf_program__attach_tracepoint(prog, category.c_str(), name.c_str());
  if (link == nullptr) {
    Napi::Error error = ErrnoError(env, "attach tracepoint " + category + ":" + name, errno);
    error.Set("log", Napi::String::New(env, capture.text()));
    throw error;
  }
  return Napi::Number::New(env, AddLink(link));
}

// attachPerfEvent(program, {type, config, frequency?, period?}): one perf event per
// online CPU, each with the program attached. Returns the link ids.
Napi::Value BpfObject::AttachPerfEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "attachPerfEvent");
  struct bpf_program* prog = FindProgram(env, info[0]);
  if (!info[1].IsObject()) throw Napi::TypeError::New(env, "perf event options must be an object");
  Napi::Object opts = info[1].As<Napi::Object>();
  struct perf_event_attr attr = {};
  attr.size = sizeof(attr);
  attr.type = opts.Get("type").As<Napi::Number>().Uint32Value();
  attr.config = static_cast<uint64_t>(opts.Get("config").As<Napi::Number>().Int64Value());
  if (opts.Has("frequency") && opts.Get("frequency").IsNumber()) {
    attr.freq = 1;
    attr.sample_freq = static_cast<uint64_t>(opts.Get("frequency").As<Napi::Number>().Int64Value());
  } else if (opts.Has("period") && opts.Get("period").IsNumber()) {
    attr.sample_period = static_cast<uint64_t>(opts.Get("period").As<Napi::Number>().Int64Value());
  } else {
    throw Napi::TypeError::New(env, "perf event options need frequency or period");
  }
  std::vector<int> ids;
  for (int cpu : OnlineCpus()) {
    int pfd = static_cast<int>(syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (pfd < 0) {
      int err = errno;
      for (int id : ids) {
        bpf_link__destroy(links_[id]);
        links_.erase(id);
      }
      throw ErrnoError(env, "perf_event_open cpu " + std::to_string(cpu), err,
                       "type " + std::to_string(attr.type) + " config " + std::to_string(attr.config));
    }
    struct bpf_link* link = bpf_program__attach_perf_event(prog, pfd);
    if (link == nullptr) {
      int err = errno;
      close(pfd);
      for (int id : ids) {
        bpf_link__destroy(links_[id]);
        links_.erase(id);
      }
      throw ErrnoError(env, std::string("attach perf_event ") + bpf_program__name(prog), err);
    }
    ids.push_back(AddLink(link));  // the link owns pfd from here on
  }
  Napi::Array out = Napi::Array::New(env, ids.size());
  for (size_t i = 0; i < ids.size(); i++) out.Set(static_cast<uint32_t>(i), ids[i]);
  return out;
}

// countPerfEvent(map, {type, config}): opens the event in counting mode (no
// sampling, no interrupt per event) on every online CPU for all tasks, and
// stores each CPU's event in the BPF_MAP_TYPE_PERF_EVENT_ARRAY `map` at that
// CPU's index, where bpf_perf_event_read_value(map, BPF_F_CURRENT_CPU) reads
// it. The events live until the object closes. Returns the CPUs counted.
Napi::Value BpfObject::CountPerfEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "countPerfEvent");
  struct bpf_map* map = FindMap(env, info[0]);
  if (bpf_map__type(map) != BPF_MAP_TYPE_PERF_EVENT_ARRAY)
    throw Napi::Error::New(env, std::string("countPerfEvent: map ") + bpf_map__name(map) +
                                    " is not a perf event array");
  if (!info[1].IsObject()) throw Napi::TypeError::New(env, "perf event options must be an object");
  Napi::Object opts = info[1].As<Napi::Object>();
  if (!opts.Get("type").IsNumber() || !opts.Get("config").IsNumber())
    throw Napi::TypeError::New(env, "perf event options need a numeric type and config");
  struct perf_event_attr attr = {};
  attr.size = sizeof(attr);
  attr.type = opts.Get("type").As<Napi::Number>().Uint32Value();
  attr.config = static_cast<uint64_t>(opts.Get("config").As<Napi::Number>().Int64Value());
  attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  std::vector<int> opened;
  std::vector<int> cpus = OnlineCpus();
  auto fail = [&](const std::string& what, int err) {
    for (int fd : opened) close(fd);
    return ErrnoError(env, what, err,
                      "type " + std::to_string(attr.type) + " config " + std::to_string(attr.config));
  };
  for (int cpu : cpus) {
    if (cpu >= static_cast<int>(bpf_map__max_entries(map)))
      throw fail("countPerfEvent: map " + std::string(bpf_map__name(map)) + " has no slot for cpu " +
                     std::to_string(cpu),
                 E2BIG);
    int pfd = static_cast<int>(syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (pfd < 0) throw fail("perf_event_open cpu " + std::to_string(cpu), errno);
    opened.push_back(pfd);
    uint32_t key = static_cast<uint32_t>(cpu);
    uint32_t value = static_cast<uint32_t>(pfd);
    if (bpf_map_update_elem(bpf_map__fd(map), &key, &value, BPF_ANY) != 0)
      throw fail(std::string("store perf event in ") + bpf_map__name(map), errno);
  }
  counter_fds_.insert(counter_fds_.end(), opened.begin(), opened.end());
  Napi::Array out = Napi::Array::New(env, cpus.size());
  for (size_t i = 0; i < cpus.size(); i++) out.Set(static_cast<uint32_t>(i), cpus[i]);
  return out;
}

// attachUprobe(program, {binary, symbol, retprobe?, pid?}).
Napi::Value BpfObject::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "attachUprobe");
  struct bpf_program* prog = FindProgram(env, info[0]);
  if (!info[1].IsObject()) throw Napi::TypeError::New(env, "uprobe options must be an object");
  Napi::Object opts = info[1].As<Napi::Object>();
  if (!opts.Get("binary").IsString()) throw Napi::TypeError::New(env, "uprobe binary must be a string");
  if (!opts.Get("symbol").IsString()) throw Napi::TypeError::New(env, "uprobe symbol must be a string");
  std::string binary = opts.Get("binary").As<Napi::String>().Utf8Value();
  std::string symbol = opts.Get("symbol").As<Napi::String>().Utf8Value();
  bool retprobe = opts.Has("retprobe") && opts.Get("retprobe").ToBoolean().Value();
  int pid = opts.Has("pid") && opts.Get("pid").IsNumber() ? opts.Get("pid").As<Napi::Number>().Int32Value() : -1;
  LIBBPF_OPTS(bpf_uprobe_opts, uopts, .retprobe = retprobe, .func_name = symbol.c_str());
  LogCapture capture;
  struct bpf_link* link = bpf_program__attach_uprobe_opts(prog, pid, binary.c_str(), 0, &uopts);
  if (link == nullptr) {
    Napi::Error error = ErrnoError(env, std::string("attach uprobe ") + bpf_program__name(prog), errno,
                                   binary + ":" + symbol);
    error.Set("log", Napi::String::New(env, capture.text()));
    throw error;
  }
  return Napi::Number::New(env, AddLink(link));
}

Napi::Value BpfObject::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgU32(info, 0, "link id");
  auto it = links_.find(static_cast<int>(id));
  if (it == links_.end()) return Napi::Boolean::New(env, false);
  bpf_link__destroy(it->second);
  links_.erase(it);
  return Napi::Boolean::New(env, true);
}

Napi::Value BpfObject::MapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "mapFd");
  return Napi::Number::New(env, bpf_map__fd(FindMap(env, info[0])));
}

// mapLookup(map, key): Buffer | null. Per-CPU maps return every CPU's slot.
Napi::Value BpfObject::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "mapLookup");
  struct bpf_map* map = FindMap(env, info[0]);
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
  if (key.Length() != bpf_map__key_size(map))
    throw Napi::TypeError::New(env, std::string("mapLookup ") + bpf_map__name(map) + ": key must be " +
                                        std::to_string(bpf_map__key_size(map)) + " bytes");
  std::vector<uint8_t> value(UserValueSize(map));
  int err = bpf_map_lookup_elem(bpf_map__fd(map), key.Data(), value.data());
  if (err) {
    if (errno == ENOENT) return env.Null();
    throw ErrnoError(env, std::string("mapLookup ") + bpf_map__name(map), errno);
  }
  return CopyBuffer(env, value, value.size());
}

// mapUpdate(map, key, value, flags = BPF_ANY).
Napi::Value BpfObject::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "mapUpdate");
  struct bpf_map* map = FindMap(env, info[0]);
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
  Napi::Buffer<uint8_t> value = ArgBuffer(info, 2, "value");
  uint32_t flags = info.Length() > 3 ? ArgU32(info, 3, "flags") : static_cast<uint32_t>(BPF_ANY);
  if (key.Length() != bpf_map__key_size(map) || value.Length() != UserValueSize(map))
    throw Napi::TypeError::New(env, std::string("mapUpdate ") + bpf_map__name(map) + ": key must be " +
                                        std::to_string(bpf_map__key_size(map)) + " bytes and value " +
                                        std::to_string(UserValueSize(map)) + " bytes");
  if (bpf_map_update_elem(bpf_map__fd(map), key.Data(), value.Data(), flags))
    throw ErrnoError(env, std::string("mapUpdate ") + bpf_map__name(map), errno);
  return env.Undefined();
}

Napi::Value BpfObject::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "mapDelete");
  struct bpf_map* map = FindMap(env, info[0]);
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
  if (key.Length() != bpf_map__key_size(map))
    throw Napi::TypeError::New(env, std::string("mapDelete ") + bpf_map__name(map) + ": wrong key size");
  if (bpf_map_delete_elem(bpf_map__fd(map), key.Data())) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    throw ErrnoError(env, std::string("mapDelete ") + bpf_map__name(map), errno);
  }
  return Napi::Boolean::New(env, true);
}

// mapDump(map, {delete?}): every entry as {keys, values, count} with fixed-size
// records. Uses the kernel's batch operations (5.6+) and falls back to
// get_next_key iteration for map types without them. Main thread; bounded by
// max_entries.
Napi::Value BpfObject::MapDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "mapDump");
  struct bpf_map* map = FindMap(env, info[0]);
  bool del = info.Length() > 1 && info[1].IsObject() &&
             info[1].As<Napi::Object>().Get("delete").ToBoolean().Value();
  int fd = bpf_map__fd(map);
  size_t ks = bpf_map__key_size(map);
  size_t vs = UserValueSize(map);
  size_t max = bpf_map__max_entries(map);
  // The buffers grow with what the map holds: sized (and zeroed) for max_entries
  // up front, a drain of a nearly empty per-CPU map wrote megabytes each time.
  size_t cap = max < 256 ? max : 256;
  std::vector<uint8_t> keys(ks * cap), values(vs * cap);
  size_t total = 0;
  bool batched = true;
  std::vector<uint8_t> in_token(ks < 8 ? 8 : ks), out_token(ks < 8 ? 8 : ks);
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, bopts);
  auto grow = [&]() {
    cap = cap * 2 < max ? cap * 2 : max;
    keys.resize(ks * cap);
    values.resize(vs * cap);
  };
  while (total < max) {
    if (total == cap) grow();
    uint32_t n = static_cast<uint32_t>(cap - total);
    int err = del ? bpf_map_lookup_and_delete_batch(fd, first ? nullptr : in_token.data(), out_token.data(),
                                                    keys.data() + total * ks, values.data() + total * vs, &n, &bopts)
                  : bpf_map_lookup_batch(fd, first ? nullptr : in_token.data(), out_token.data(),
                                         keys.data() + total * ks, values.data() + total * vs, &n, &bopts);
    int e = err ? errno : 0;
    if (err && first && total == 0 && (e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP || e == 524 /* kernel ENOTSUPP */)) {
      batched = false;
      break;
    }
    // A hash bucket holds more entries than the room left: nothing was copied, make room.
    if (err && e == ENOSPC && n == 0 && cap < max) {
      grow();
      continue;
    }
    total += n;
    if (err && e == ENOENT) break;
    if (err) throw ErrnoError(env, std::string(del ? "mapDump+delete " : "mapDump ") + bpf_map__name(map), e);
    std::swap(in_token, out_token);
    first = false;
  }
  if (!batched) {
    keys.resize(ks * max);
    values.resize(vs * max);
    total = 0;
    std::vector<uint8_t> cur(ks), next(ks);
    const void* prev = nullptr;
    while (total < max && bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      std::memcpy(keys.data() + total * ks, next.data(), ks);
      cur = next;
      prev = cur.data();
      total++;
    }
    size_t kept = 0;
    for (size_t i = 0; i < total; i++) {
      uint8_t* k = keys.data() + i * ks;
      if (bpf_map_lookup_elem(fd, k, values.data() + kept * vs) != 0) continue;  // deleted meanwhile
      if (kept != i) std::memmove(keys.data() + kept * ks, k, ks);
      if (del) bpf_map_delete_elem(fd, keys.data() + kept * ks);
      kept++;
    }
    total = kept;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("keys", CopyBuffer(env, keys, total * ks));
  out.Set("values", CopyBuffer(env, values, total * vs));
  out.Set("count", static_cast<double>(total));
  out.Set("keySize", static_cast<double>(ks));
  out.Set("valueSize", static_cast<double>(vs));
  out.Set("batched", batched);
  return out;
}

// programStats(program): cumulative run time and count. The kernel counts them
// only while some process holds a BPF_ENABLE_STATS fd (see enableRunTimeStats).
Napi::Value BpfObject::ProgramStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env, "programStats");
  struct bpf_program* prog = FindProgram(env, info[0]);
  struct bpf_prog_info pinfo = {};
  uint32_t len = sizeof(pinfo);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &pinfo, &len))
    throw ErrnoError(env, std::string("programStats ") + bpf_program__name(prog), errno);
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", pinfo.id);
  out.Set("runTimeNs", static_cast<double>(pinfo.run_time_ns));
  out.Set("runCount", static_cast<double>(pinfo.run_cnt));
  out.Set("recursionMisses", static_cast<double>(pinfo.recursion_misses));
  return out;
}

// close(): detaches every link and frees the object. Idempotent.
Napi::Value BpfObject::Close(const Napi::CallbackInfo& info) {
  if (loading_) throw Napi::Error::New(info.Env(), "close: object " + name_ + " is loading");
  CloseAll();
  return info.Env().Undefined();
}

}  // namespace ft
