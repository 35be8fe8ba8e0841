// SPDX-License-Identifier: Apache-2.0
/**
 * Kernel addresses to names through /proc/kallsyms (kernel/kallsyms.c, s_show()):
 *
 *   ffffffff81000000 T _stext
 *   ffffffffc0a01000 t ext4_fill_super\t[ext4]
 *
 * The file has no sizes, so an address belongs to the nearest symbol at or below it. Only text
 * symbols (t/T, and w/W for weak ones) name code; data symbols (listed with
 * CONFIG_KALLSYMS_ALL) still count as boundaries, so an address in data is not blamed on the
 * function before it. Readers without CAP_SYSLOG under kptr_restrict see every address as 0;
 * such lines are skipped and their frames come out as "[unknown]+0x<address>".
 *
 * kallsyms changes when modules and BPF programs (module "bpf") load and unload; reload()
 * re-reads it. A lookup never re-reads kallsyms; build ids come from sysfs, once per module.
 */
import { readFileSync } from 'node:fs';
import { findGnuBuildId } from './elf-notes';
import { type Frame, resolvedFrame, unresolvedFrame, UNKNOWN_MODULE } from './frame';

export const DEFAULT_KALLSYMS_PATH = '/proc/kallsyms';
/** module name of symbols without a [module] column */
const CORE_KERNEL = 'kernel';

/** Among symbols sharing an address the lowest rank names it; non-text symbols come last. */
const TYPE_RANK: Record<string, number> = { T: 0, t: 1, W: 2, w: 3 };
const NON_TEXT_RANK = 4;
/** Absolute values and undefined symbols are not addresses in the kernel's text or data. */
const NOT_AN_ADDRESS = new Set(['a', 'A', 'U']);
const HEX = /^[0-9a-f]+$/i;

interface KernelSymbol {
  address: bigint;
  rank: number;
  name: string;
  module: string;
}

export class KernelSymbols {
  private starts = new BigUint64Array(0);
  private names: string[] = [];
  private modules: string[] = [];
  private isText = new Uint8Array(0);
  private readonly buildIds = new Map<string, string | undefined>();
  /** estimated bytes held: the names are slices of the file's text, which they keep alive */
  approxBytes = 0;

  /**
   * Reads `path` now and throws the fs error if it cannot. Build ids are read from
   * `sysRoot`/kernel/notes and `sysRoot`/module/NAME/notes, by default only when `path` is the
   * live /proc/kallsyms (a copy of another host's kallsyms must not get this host's build ids).
   */
  constructor(
    readonly path = DEFAULT_KALLSYMS_PATH,
    private readonly sysRoot: string | undefined = path === DEFAULT_KALLSYMS_PATH
      ? '/sys'
      : undefined,
  ) {
    this.reload();
  }

  /** number of distinct addresses known; 0 when kptr_restrict hid every address */
  get size(): number {
    return this.starts.length;
  }

  /**
   * Re-reads the file, after modules or BPF programs were loaded or unloaded. Throws the fs
   * error, or an error naming the line when the file is not in kallsyms format.
   */
  reload(): void {
    const text = readFileSync(this.path, 'utf8');
    const moduleNames = new Map<string, string>();
    const symbols: KernelSymbol[] = [];
    text.split('\n').forEach((line, lineIndex) => {
      if (line === '') return;
      const addressEnd = line.indexOf(' ');
      if (addressEnd <= 0 || addressEnd + 3 >= line.length || !HEX.test(line.slice(0, addressEnd)))
        throw new Error(`${this.path} line ${lineIndex + 1} is not "address type name [module]"`);
      const type = line[addressEnd + 1] as string;
      const address = BigInt(`0x${line.slice(0, addressEnd)}`);
      if (address === 0n || NOT_AN_ADDRESS.has(type)) return;
      const nameStart = addressEnd + 3;
      const tab = line.indexOf('\t', nameStart);
      let name = line.slice(nameStart);
      let module = CORE_KERNEL;
      if (tab >= 0) {
        name = line.slice(nameStart, tab);
        const bare = line
          .slice(tab + 1)
          .trim()
          .replace(/^\[/, '')
          .replace(/\]$/, '');
        module = moduleNames.get(bare) ?? bare;
        moduleNames.set(module, module);
      }
      symbols.push({ address, rank: TYPE_RANK[type] ?? NON_TEXT_RANK, name, module });
    });

    symbols.sort((a, b) =>
      a.address !== b.address ? (a.address < b.address ? -1 : 1) : a.rank - b.rank,
    );
    const unique = symbols.filter(
      (symbol, index) => index === 0 || symbols[index - 1]?.address !== symbol.address,
    );
    this.starts = new BigUint64Array(unique.length);
    this.isText = new Uint8Array(unique.length);
    this.names = new Array<string>(unique.length);
    this.modules = new Array<string>(unique.length);
    unique.forEach((symbol, index) => {
      this.starts[index] = symbol.address;
      this.isText[index] = symbol.rank < NON_TEXT_RANK ? 1 : 0;
      this.names[index] = symbol.name;
      this.modules[index] = symbol.module;
    });
    this.buildIds.clear();
    // per address: an 8-byte bigint, a flag byte, two 8-byte array slots and a sliced string (32)
    this.approxBytes = text.length + unique.length * 57;
  }

  /** The kernel frame for `address`; "[unknown]+0x<address>" when no text symbol covers it. */
  resolve(address: bigint): Frame {
    let low = 0;
    let high = this.starts.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.starts[middle] as bigint) <= address) low = middle + 1;
      else high = middle;
    }
    const index = low - 1;
    if (index < 0 || this.isText[index] !== 1)
      return unresolvedFrame(address, UNKNOWN_MODULE, address, undefined, true);
    const module = this.modules[index] as string;
    return resolvedFrame(
      address,
      this.names[index] as string,
      address - (this.starts[index] as bigint),
      module,
      this.buildIdOf(module),
      true,
    );
  }

  /**
   * The GNU build id of vmlinux or of a module, from the notes the kernel exports in sysfs.
   * Pseudo modules such as "bpf" and "__builtin__ftrace" have none.
   */
  private buildIdOf(module: string): string | undefined {
    if (this.sysRoot === undefined) return undefined;
    if (this.buildIds.has(module)) return this.buildIds.get(module);
    const notesPath =
      module === CORE_KERNEL
        ? `${this.sysRoot}/kernel/notes`
        : `${this.sysRoot}/module/${module}/notes/.note.gnu.build-id`;
    let buildId: string | undefined;
    try {
      buildId = findGnuBuildId(readFileSync(notesPath));
    } catch {
      buildId = undefined;
    }
    this.buildIds.set(module, buildId);
    return buildId;
  }
}
