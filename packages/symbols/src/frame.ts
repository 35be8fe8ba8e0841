// SPDX-License-Identifier: Apache-2.0
/**
 * The frame every symbolizer in this package returns, and the one place its `text` is spelled,
 * because `text` is what stack ids hash (stack-hash.ts): two spellings of one frame would split
 * one stack into two.
 */

/** One resolved (or unresolved) frame. */
export interface Frame {
  /** the instruction address as sampled */
  address: bigint;
  /** function name when resolved; C++ and Rust names stay mangled (demangling is for display) */
  symbol?: string;
  /** address minus the symbol's start, when resolved */
  offset?: bigint;
  /**
   * basename of the mapped file ("libc.so.6"), a kernel module name, "kernel", or a pseudo
   * mapping such as "[vdso]", "[heap]", "[anon]", or "[unknown]" when no mapping holds the address
   */
  module: string;
  /** build id (hex) of the module's ELF file when known */
  buildId?: string;
  /**
   * "function+0xoff (module)" when resolved, else "module+0xoffset" where offset is the file
   * offset (user frames in files and the vdso) or the address (kernel, anonymous memory, unknown);
   * never dropped
   */
  text: string;
  kernel: boolean;
}

/** Module of frames whose address lies in no known mapping or kernel symbol. */
export const UNKNOWN_MODULE = '[unknown]';

export function resolvedFrame(
  address: bigint,
  symbol: string,
  offset: bigint,
  module: string,
  buildId: string | undefined,
  kernel: boolean,
): Frame {
  return {
    address,
    symbol,
    offset,
    module,
    ...(buildId === undefined ? {} : { buildId }),
    text: `${symbol}+0x${offset.toString(16)} (${module})`,
    kernel,
  };
}

/** `offsetShown` is the file offset for file-backed code, otherwise the address itself. */
export function unresolvedFrame(
  address: bigint,
  module: string,
  offsetShown: bigint,
  buildId: string | undefined,
  kernel: boolean,
): Frame {
  return {
    address,
    module,
    ...(buildId === undefined ? {} : { buildId }),
    text: `${module}+0x${offsetShown.toString(16)}`,
    kernel,
  };
}
