// SPDX-License-Identifier: Apache-2.0
// Error construction and libbpf diagnostics capture shared by the addon's classes.
#pragma once

#include <napi.h>

#include <string>

namespace ft {

// "ENOENT" for 2; "E<n>" when the C library has no name for it.
std::string ErrnoName(int err);

// A JS Error "op: strerror (detail)" with .code (errno name), .errno (positive
// number) and .operation. Any thread may build the message; only the main
// thread may call this (it creates JS values).
Napi::Error ErrnoError(Napi::Env env, const std::string& op, int err,
                       const std::string& detail = "");

// libbpf prints through one process-wide callback. While a LogCapture lives on
// a thread, libbpf's messages emitted on that thread are appended to it, so a
// load running on a thread-pool thread gets its own verifier log. Without a
// capture, messages go to stderr only when FLEETTRACE_LIBBPF_DEBUG is set.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  void Append(const char* text);
  const std::string& text() const { return text_; }
  // The verifier's log if libbpf printed one, else everything captured.
  std::string VerifierLog() const;

 private:
  std::string text_;
  LogCapture* previous_;
};

// Installs the libbpf print callback; called once from module init (main thread).
void InstallLibbpfPrint();

}  // namespace ft
