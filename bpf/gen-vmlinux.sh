#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates the checked-in vmlinux.h for one architecture from a kernel's BTF.
# The header is checked in so that a build never depends on the build host's kernel;
# CO-RE relocations adapt the compiled programs to the running kernel at load time.
#
# usage: bpf/gen-vmlinux.sh [BTF_FILE] [ARCH]
#   BTF_FILE defaults to /sys/kernel/btf/vmlinux, ARCH to x86.
set -euo pipefail
btf=${1:-/sys/kernel/btf/vmlinux}
arch=${2:-x86}
here=$(cd "$(dirname "$0")" && pwd)
out="$here/vmlinux/$arch/vmlinux.h"
mkdir -p "$(dirname "$out")"
bpftool btf dump file "$btf" format c > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out from $btf ($(uname -r))"
