// SPDX-License-Identifier: Apache-2.0
#include "ring_reader.h"

#include <bpf/libbpf.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "errors.h"

namespace ft {

namespace {
constexpr size_t kMaxBatchBytes = 4 << 20;
}

// Main thread. batch is ours to free; env is null when the function is being
// torn down after destroy(), and then the batch is only freed.
void RingCallJs(Napi::Env env, Napi::Function callback, RingReader* reader, RingBatch* batch) {
  if (env == nullptr || callback.IsEmpty()) {
    delete batch;
    return;
  }
  if (batch->end || batch->flushed) {
    bool end = batch->end;
    delete batch;
    callback.Call({env.Null(), Napi::Number::New(env, end ? 0 : 1)});
    return;
  }
  reader->queued_ -= batch->count;
  reader->delivered_ += batch->count;
  uint32_t count = batch->count;
  auto buffer = Napi::Buffer<uint8_t>::New(env, batch->bytes.data(), batch->bytes.size(),
                                           [](Napi::Env, uint8_t*, RingBatch* b) { delete b; }, batch);
  callback.Call({buffer, Napi::Number::New(env, count)});
}

Napi::Function RingReader::Init(Napi::Env env) {
  return DefineClass(env, "RingReader",
                     {
                         InstanceMethod<&RingReader::Stop>("stop"),
                         InstanceMethod<&RingReader::Pause>("pause"),
                         InstanceMethod<&RingReader::Resume>("resume"),
                         InstanceMethod<&RingReader::FlushNow>("flush"),
                         InstanceMethod<&RingReader::Join>("join"),
                         InstanceMethod<&RingReader::Destroy>("destroy"),
                         InstanceMethod<&RingReader::Stats>("stats"),
                     });
}

RingReader::RingReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingReader>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "ring buffer map fd must be a number");
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "onBatch must be a function");
  int map_fd = info[0].As<Napi::Number>().Int32Value();
  size_t max_queue = 8;
  if (info[2].IsObject()) {
    Napi::Object opts = info[2].As<Napi::Object>();
    if (opts.Get("maxBatchRecords").IsNumber())
      max_batch_records_ = opts.Get("maxBatchRecords").As<Napi::Number>().Uint32Value();
    if (opts.Get("maxQueuedBatches").IsNumber())
      max_queue = opts.Get("maxQueuedBatches").As<Napi::Number>().Uint32Value();
    if (opts.Get("pollIntervalMs").IsNumber())
      poll_interval_ms_ = opts.Get("pollIntervalMs").As<Napi::Number>().Int32Value();
  }
  if (poll_interval_ms_ < 1 || poll_interval_ms_ > 60000)
    throw Napi::RangeError::New(env, "pollIntervalMs must be between 1 and 60000");
  if (max_batch_records_ == 0) throw Napi::RangeError::New(env, "maxBatchRecords must be >= 1");
  if (max_queue == 0) throw Napi::RangeError::New(env, "maxQueuedBatches must be >= 1");

  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw ErrnoError(env, "eventfd", errno);
  LogCapture capture;
  rb_ = ring_buffer__new(map_fd, &RingReader::OnSample, this, nullptr);
  if (rb_ == nullptr) {
    int err = errno;
    close(wake_fd_);
    wake_fd_ = -1;
    throw ErrnoError(env, "ring_buffer__new", err, capture.text());
  }
  tsfn_ = RingTsfn::New(env, info[1].As<Napi::Function>(), "fleettrace-ring-reader", max_queue, 1, this);
  thread_ = std::thread([this] { Run(); });
}

RingReader::~RingReader() {
  if (!released_) {
    aborting_ = true;
    stopping_ = true;
    Wake();
    JoinAndRelease(true);
  }
  if (rb_ != nullptr) ring_buffer__free(rb_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void RingReader::Wake() {
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof(one));
  (void)n;
}

// Reader thread.
int RingReader::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingReader*>(ctx);
  if (self->current_ == nullptr) self->current_ = new RingBatch();
  RingBatch* b = self->current_;
  uint32_t len = static_cast<uint32_t>(size);
  size_t at = b->bytes.size();
  b->bytes.resize(at + sizeof(len) + size);
  std::memcpy(b->bytes.data() + at, &len, sizeof(len));
  std::memcpy(b->bytes.data() + at + sizeof(len), data, size);
  b->count++;
  self->records_++;
  self->bytes_ += size;
  if (b->count >= self->max_batch_records_ || b->bytes.size() >= kMaxBatchBytes) self->Flush();
  return 0;
}

// Reader thread.
void RingReader::Flush() {
  if (current_ == nullptr || current_->count == 0) return;
  RingBatch* b = current_;
  current_ = nullptr;
  Deliver(b);
}

// Reader thread. One answer for the flush() calls taken before the last
// consume: it follows every batch of what the ring held then.
void RingReader::AnswerFlush(uint32_t requests) {
  if (requests == 0) return;
  auto* ack = new RingBatch();
  ack->flushed = true;
  Deliver(ack);
}

// Reader thread. Waits while the queue is full (back-pressure). Returns false
// when the batch was discarded because destroy() is tearing the reader down.
bool RingReader::Deliver(RingBatch* batch) {
  uint32_t count = batch->count;
  queued_ += count;
  bool waited = false;
  while (true) {
    napi_status status = tsfn_.NonBlockingCall(batch);
    if (status == napi_ok) {
      batches_ += (batch->end || batch->flushed) ? 0 : 1;
      return true;
    }
    if (status != napi_queue_full || aborting_) break;
    if (!waited) {
      waits_++;
      waited = true;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  // Only destroy() gets here; it counts queued_ (this batch included) after joining.
  delete batch;
  return false;
}

// Reader thread.
void RingReader::Run() {
  struct pollfd fds[2] = {};
  fds[0].fd = ring_buffer__epoll_fd(rb_);
  fds[0].events = POLLIN;
  fds[1].fd = wake_fd_;
  fds[1].events = POLLIN;
  while (!stopping_) {
    if (paused_) {
      // Only the wake fd: leave the ring alone until resume() or stop().
      // A flush() is answered at once: JavaScript holds more than it can decode already.
      int n = poll(&fds[1], 1, 1000);
      if (n > 0) {
        uint64_t ignored;
        ssize_t r = read(wake_fd_, &ignored, sizeof(ignored));
        (void)r;
      }
      AnswerFlush(flush_requests_.exchange(0));
      continue;
    }
    int n = poll(fds, 2, poll_interval_ms_);
    if (n > 0 && (fds[1].revents & POLLIN)) {
      uint64_t ignored;
      ssize_t r = read(wake_fd_, &ignored, sizeof(ignored));
      (void)r;
    }
    // Taken after the eventfd was cleared and before consuming: a flush() after
    // this point has woken the eventfd again, so the next round answers it.
    uint32_t flushes = flush_requests_.exchange(0);
    if (n < 0 && errno != EINTR) {
      error_ = errno;
      break;
    }
    if (stopping_) break;
    int r = ring_buffer__consume(rb_);
    if (r < 0 && r != -EINTR) {
      error_ = -r;
      break;
    }
    Flush();
    AnswerFlush(flushes);
  }
  if (!aborting_) {
    ring_buffer__consume(rb_);
    Flush();
    auto* end = new RingBatch();
    end->end = true;
    Deliver(end);
  }
}

// stop(): asks the reader to drain what is in the ring and finish; JavaScript
// gets every remaining batch and then one call with a null buffer.
Napi::Value RingReader::Stop(const Napi::CallbackInfo& info) {
  stopping_ = true;
  Wake();
  return info.Env().Undefined();
}

// flush(): asks the reader thread to consume what the ring holds now and
// deliver it, followed by onBatch(null, 1).
Napi::Value RingReader::FlushNow(const Napi::CallbackInfo& info) {
  flush_requests_++;
  Wake();
  return info.Env().Undefined();
}

Napi::Value RingReader::Pause(const Napi::CallbackInfo& info) {
  paused_ = true;
  Wake();
  return info.Env().Undefined();
}

Napi::Value RingReader::Resume(const Napi::CallbackInfo& info) {
  paused_ = false;
  Wake();
  return info.Env().Undefined();
}

void RingReader::JoinAndRelease(bool abort) {
  if (thread_.joinable()) thread_.join();
  if (!released_) {
    if (abort) {
      // Batches still queued will never reach JavaScript: count them.
      dropped_ += queued_.exchange(0);
      tsfn_.Abort();
    } else {
      tsfn_.Release();
    }
    released_ = true;
  }
}

// join(): after the null batch arrived; the thread has finished or is about to.
Napi::Value RingReader::Join(const Napi::CallbackInfo& info) {
  JoinAndRelease(false);
  return info.Env().Undefined();
}

// destroy(): synchronous teardown for process exit; discards what JavaScript
// has not received yet and counts it in `dropped`.
Napi::Value RingReader::Destroy(const Napi::CallbackInfo& info) {
  if (!released_) {
    aborting_ = true;
    stopping_ = true;
    Wake();
    JoinAndRelease(true);
    if (current_ != nullptr) {
      dropped_ += current_->count;
      delete current_;
      current_ = nullptr;
    }
  }
  return info.Env().Undefined();
}

Napi::Value RingReader::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("records", static_cast<double>(records_.load()));
  out.Set("delivered", static_cast<double>(delivered_.load()));
  out.Set("batches", static_cast<double>(batches_.load()));
  out.Set("bytes", static_cast<double>(bytes_.load()));
  out.Set("waits", static_cast<double>(waits_.load()));
  out.Set("paused", paused_.load());
  out.Set("dropped", static_cast<double>(dropped_));
  out.Set("error", error_.load() ? Napi::Value(Napi::String::New(env, ErrnoName(error_.load()))) : env.Null());
  return out;
}

}  // namespace ft
