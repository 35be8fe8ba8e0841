// SPDX-License-Identifier: Apache-2.0
// RingReader: drains one BPF ring buffer on a native thread and hands batches
// of records to JavaScript through a bounded thread-safe function.
//
// Back-pressure: when the thread-safe function's queue is full the reader
// thread waits instead of consuming, so the kernel ring fills and the BPF
// program's bpf_ringbuf_reserve() fails. Loss is therefore counted in exactly
// one place, by the BPF program, and nothing is dropped silently here; the only
// exception is destroy(), which counts what it discards in `dropped`.
// JavaScript can also pause() the reader when its own queue of undecoded
// records is full, with the same effect: the kernel ring fills and the BPF
// side counts what it cannot reserve.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

struct ring_buffer;

namespace ft {

// Records framed as [u32 length][bytes] back to back.
struct RingBatch {
  std::vector<uint8_t> bytes;
  uint32_t count = 0;
  bool end = false;      // the final call after stop(): no records
  bool flushed = false;  // answers flush(): every record committed before it was delivered
};

class RingReader;
void RingCallJs(Napi::Env env, Napi::Function callback, RingReader* context, RingBatch* batch);
using RingTsfn = Napi::TypedThreadSafeFunction<RingReader, RingBatch, RingCallJs>;

class RingReader : public Napi::ObjectWrap<RingReader> {
 public:
  static Napi::Function Init(Napi::Env env);

  // JS: new RingReader(mapFd, onBatch(buffer|null, count), {maxBatchRecords, maxQueuedBatches,
  // pollIntervalMs}). onBatch(null, 0) is the end after stop(); onBatch(null, 1) answers flush().
  // Main thread. Starts the reader thread.
  explicit RingReader(const Napi::CallbackInfo& info);
  ~RingReader() override;

 private:
  friend void RingCallJs(Napi::Env env, Napi::Function callback, RingReader* context, RingBatch* batch);

  Napi::Value Stop(const Napi::CallbackInfo& info);     // main thread
  Napi::Value Pause(const Napi::CallbackInfo& info);    // main thread
  Napi::Value Resume(const Napi::CallbackInfo& info);   // main thread
  Napi::Value FlushNow(const Napi::CallbackInfo& info);  // main thread
  Napi::Value Join(const Napi::CallbackInfo& info);     // main thread
  Napi::Value Destroy(const Napi::CallbackInfo& info);  // main thread
  Napi::Value Stats(const Napi::CallbackInfo& info);    // main thread

  void Run();                                                  // reader thread
  static int OnSample(void* ctx, void* data, size_t size);     // reader thread
  void Flush();                                                // reader thread
  void AnswerFlush(uint32_t requests);                         // reader thread
  bool Deliver(RingBatch* batch);                   // reader thread
  void Wake();                                                 // any thread
  void JoinAndRelease(bool abort);                             // main thread

  struct ring_buffer* rb_ = nullptr;
  int wake_fd_ = -1;
  std::thread thread_;
  RingTsfn tsfn_;
  bool released_ = false;
  uint32_t max_batch_records_ = 4096;
  // The BPF side wakes the reader only once the ring holds a threshold
  // (ft_ringbuf_submit in bpf/include/ft_common.h): the rest is read on this
  // timer or on flush().
  int poll_interval_ms_ = 1000;
  std::atomic<uint32_t> flush_requests_{0};  // flush() calls not answered yet
  RingBatch* current_ = nullptr;  // owned by the reader thread
  std::atomic<bool> stopping_{false};
  std::atomic<bool> aborting_{false};
  std::atomic<bool> paused_{false};  // JavaScript's own queue is full: stop consuming
  std::atomic<int> error_{0};
  std::atomic<uint64_t> records_{0};    // consumed from the ring
  std::atomic<uint64_t> delivered_{0};  // handed to JavaScript
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> waits_{0};      // times the reader waited on a full queue
  std::atomic<uint64_t> queued_{0};     // records in the queue, not yet delivered
  uint64_t dropped_ = 0;                // discarded by destroy(); main thread
};

}  // namespace ft
