// SPDX-License-Identifier: Apache-2.0
#include "errors.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ft {

namespace {

thread_local LogCapture* current_capture = nullptr;

// Keep captured logs bounded: a verifier log of a large program can reach megabytes.
constexpr size_t kMaxCapture = 1 << 20;

int PrintCallback(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (current_capture == nullptr) {
    static const bool debug = std::getenv("FLEETTRACE_LIBBPF_DEBUG") != nullptr;
    if (debug) vfprintf(stderr, fmt, args);
    return 0;
  }
  if (level == LIBBPF_DEBUG) return 0;
  char stack_buf[1024];
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(stack_buf, sizeof(stack_buf), fmt, copy);
  va_end(copy);
  if (n < 0) return 0;
  if (static_cast<size_t>(n) < sizeof(stack_buf)) {
    current_capture->Append(stack_buf);
  } else {
    std::string big(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(big.data(), big.size(), fmt, args);
    current_capture->Append(big.c_str());
  }
  return 0;
}

}  // namespace

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "E" + std::to_string(err);
}

Napi::Error ErrnoError(Napi::Env env, const std::string& op, int err, const std::string& detail) {
  if (err < 0) err = -err;
  std::string message = op + ": " + std::strerror(err);
  if (!detail.empty()) message += " (" + detail + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("operation", Napi::String::New(env, op));
  return error;
}

LogCapture::LogCapture() : previous_(current_capture) { current_capture = this; }

LogCapture::~LogCapture() { current_capture = previous_; }

void LogCapture::Append(const char* text) {
  if (text_.size() < kMaxCapture) text_.append(text);
}

std::string LogCapture::VerifierLog() const {
  static const char kBegin[] = "-- BEGIN PROG LOAD LOG --";
  static const char kEnd[] = "-- END PROG LOAD LOG --";
  size_t begin = text_.find(kBegin);
  if (begin == std::string::npos) return text_;
  begin += sizeof(kBegin) - 1;
  if (begin < text_.size() && text_[begin] == '\n') begin++;
  size_t end = text_.find(kEnd, begin);
  return text_.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

void InstallLibbpfPrint() { libbpf_set_print(PrintCallback); }

}  // namespace ft
