// SPDX-License-Identifier: Apache-2.0
/**
 * fleettrace frame strings, as the host symbolizer writes them into
 * `fleettrace.stacks` (docs/schema.md): `function+0xoff (module)` for a
 * resolved frame, `module+0xoffset` for an address the symbolizer could not
 * name. Anything else (a marker such as `[lost stack]`) is kept as it is.
 */

export interface Frame {
  /** the function's name; for an unresolved frame its whole text (`libc.so.6+0x2724a`) */
  function: string;
  /** the offset into the function (resolved) or into the module (unresolved), when the text has one */
  offset?: number;
  /** `kernel`, a file's base name, or empty when the text names none */
  module: string;
  /** false for `module+0xoffset` and markers */
  resolved: boolean;
}

const RESOLVED = /^(.+)\+0x([0-9a-fA-F]+) \(([^()]*)\)$/;
const UNRESOLVED = /^([^\s()]+)\+0x([0-9a-fA-F]+)$/;

export function parseFrame(text: string): Frame {
  const r = RESOLVED.exec(text);
  if (r)
    return {
      function: r[1] as string,
      offset: Number.parseInt(r[2] as string, 16),
      module: r[3] as string,
      resolved: true,
    };
  const u = UNRESOLVED.exec(text);
  if (u)
    return {
      function: text,
      offset: Number.parseInt(u[2] as string, 16),
      module: u[1] as string,
      resolved: false,
    };
  return { function: text, module: '', resolved: false };
}

/**
 * The name a flame graph shows for a frame: the function without its offset,
 * so that calls from different sites of one function merge into one box.
 */
export function frameName(text: string): string {
  return parseFrame(text).function;
}

/** A kernel frame (the symbolizer names the kernel's module `kernel`). */
export function isKernelFrame(text: string): boolean {
  return parseFrame(text).module === 'kernel';
}
