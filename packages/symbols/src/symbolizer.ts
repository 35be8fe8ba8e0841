// SPDX-License-Identifier: Apache-2.0
/**
 * Turns sampled addresses into frames on the host that sampled them, where the processes, their
 * files and kallsyms are. Only frames (and stack ids) leave the host.
 *
 * Contract with the caller (the agent's process tracking):
 * - notePid when a process is first seen, so its files are parsed while it still exists; a
 *   stack of a short-lived process is often read after the process exited.
 * - refreshPid after exec; the symbolizer also refreshes by itself when an address falls
 *   outside every known mapping of a live process (dlopen, or a missed exec).
 * - forgetPid when the process exits and its last stacks are symbolized: pids are reused, and a
 *   remembered pid is symbolized with the mappings that were recorded for it.
 * All methods are synchronous and do blocking file I/O (/proc, ELF files); run the symbolizer
 * off the thread that drains ring buffers.
 */
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { ElfFile, ElfFormatError } from './elf-file';
import { type Frame, resolvedFrame, unresolvedFrame, UNKNOWN_MODULE } from './frame';
import { DEFAULT_KALLSYMS_PATH, KernelSymbols } from './kernel-symbols';
import { LruCache } from './lru-cache';
import { type Mapping, ProcessGoneError, readProcessMaps } from './process-maps';

export interface SymbolizerOptions {
  /** parsed ELF files kept for reuse by processes not yet seen; default 256, LRU */
  maxElfFiles?: number;
  /** bound on the estimated bytes of those files; default 48 MiB */
  maxElfBytes?: number;
  /** processes whose mappings are remembered; default 4096, LRU */
  maxProcesses?: number;
  /** bound on the estimated bytes of those mappings; default 16 MiB */
  maxProcessBytes?: number;
  /** default /proc/kallsyms, read on the first kernel stack */
  kallsymsPath?: string;
  /** default /proc, for tests */
  procRoot?: string;
}

export interface SymbolizerStats {
  processes: number;
  elfFiles: number;
  /** file lookups answered by the cache (same file, or same build id elsewhere) */
  elfHits: number;
  /** file lookups that parsed a file */
  elfMisses: number;
  /** frames returned without a symbol, user and kernel */
  unresolvedFrames: number;
  /** files that could not be opened or are not ELF64 little-endian; their frames are unresolved */
  elfReadFailures: number;
}

/** What is remembered of one process: its mappings and the ELF file behind each. */
interface ProcessRecord {
  /** sorted by start, not overlapping (the kernel prints them so) */
  mappings: Mapping[];
  /** parallel to mappings; undefined for memory without a readable ELF image */
  elfFiles: Array<ElfFile | undefined>;
}

const VDSO = '[vdso]';
const ANONYMOUS = '[anon]';
const MIB = 1024 * 1024;

/** Estimated bytes of one process's record: per mapping an object with bigints and a path. */
function recordBytes(record: ProcessRecord): number {
  let bytes = 64;
  for (const m of record.mappings) bytes += 160 + m.path.length;
  return bytes;
}

/**
 * kallsyms parsed once per path for every symbolizer of the process (each collector with
 * stacks has its own symbolizer; the kernel's symbols are the same for all of them).
 */
const kernelSymbolsByPath = new LruCache<string, KernelSymbols>(4, {
  name: 'symbols.kernel',
  maxBytes: 64 * MIB,
  sizeOf: (k) => k.approxBytes,
});

function isFileBacked(mapping: Mapping): boolean {
  return mapping.inode !== 0 && mapping.path.startsWith('/');
}

/** The module name a frame in this mapping gets. */
function moduleOf(mapping: Mapping): string {
  if (mapping.path === '') return ANONYMOUS;
  if (mapping.path.startsWith('/')) return basename(mapping.path);
  // Kernels before 4.5 printed thread stacks as [stack:TID]; one name for all of them.
  if (mapping.path.startsWith('[stack:')) return '[stack]';
  return mapping.path;
}

function findMapping(mappings: Mapping[], address: bigint): number {
  let low = 0;
  let high = mappings.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((mappings[middle] as Mapping).start <= address) low = middle + 1;
    else high = middle;
  }
  const index = low - 1;
  return index >= 0 && address < (mappings[index] as Mapping).end ? index : -1;
}

export class Symbolizer {
  private readonly procRoot: string;
  private readonly kallsymsPath: string;
  private readonly processes: LruCache<number, ProcessRecord>;
  /** parsed files by build id, or by file identity when the file has none */
  private readonly elfByBuildId: LruCache<string, ElfFile>;
  /**
   * parsed files by identity (device, inode, size, mtime), so noting a process does not even
   * open a file already parsed; null for files that are not ELF64 little-endian. Size and mtime
   * guard against a freed inode number reused by a different file (package upgrades do that).
   */
  private readonly elfByIdentity: LruCache<string, ElfFile | null>;
  private elfHits = 0;
  private elfMisses = 0;
  private unresolvedFrames = 0;
  private elfReadFailures = 0;

  constructor(options: SymbolizerOptions = {}) {
    const maxElfFiles = options.maxElfFiles ?? 256;
    this.processes = new LruCache(options.maxProcesses ?? 4096, {
      name: 'symbols.process_maps',
      maxBytes: options.maxProcessBytes ?? 16 * MIB,
      sizeOf: recordBytes,
    });
    this.elfByBuildId = new LruCache(maxElfFiles, {
      name: 'symbols.elf_files',
      maxBytes: options.maxElfBytes ?? 48 * MIB,
      sizeOf: (elf) => elf.approxBytes,
    });
    // Its files are those of elfByBuildId (counted there); a process record keeps the files it
    // maps alive until it is forgotten or evicted.
    this.elfByIdentity = new LruCache(maxElfFiles, {
      name: 'symbols.elf_identities',
      sizeOf: (_, key) => 64 + key.length,
    });
    this.procRoot = options.procRoot ?? '/proc';
    this.kallsymsPath = options.kallsymsPath ?? DEFAULT_KALLSYMS_PATH;
  }

  /**
   * Records a process's mappings now and parses the ELF files they map, so its stacks can still
   * be symbolized after it exits. Cheap when already known (no I/O). Returns false if the
   * process is already gone or has no address space (a zombie or a kernel thread).
   */
  notePid(pid: number): boolean {
    if (this.processes.get(pid) !== undefined) return true;
    return this.refreshPid(pid);
  }

  /**
   * Re-reads the mappings (after exec). Returns false, keeping what was recorded, if the
   * process is gone or has no address space. Other errors reading /proc (EACCES) are thrown.
   */
  refreshPid(pid: number): boolean {
    let mappings: Mapping[];
    try {
      mappings = readProcessMaps(pid, this.procRoot);
    } catch (err) {
      if (err instanceof ProcessGoneError) return false;
      throw err;
    }
    if (mappings.length === 0) return false;
    this.processes.set(pid, { mappings, elfFiles: this.elfFilesFor(pid, mappings) });
    return true;
  }

  forgetPid(pid: number): void {
    this.processes.delete(pid);
  }

  /**
   * One frame per address, in order. A process never noted is noted now; if it is gone, its
   * frames are "[unknown]+0x<address>".
   */
  symbolizeUser(pid: number, addresses: bigint[]): Frame[] {
    let refreshed = false;
    let record = this.processes.get(pid);
    if (record === undefined) {
      refreshed = true;
      if (this.refreshPid(pid)) record = this.processes.get(pid);
    }
    return addresses.map((address) => {
      let index = record === undefined ? -1 : findMapping(record.mappings, address);
      if (index < 0 && record !== undefined && !refreshed) {
        // Once per call: a stack of garbage addresses must not re-read maps per frame.
        refreshed = true;
        if (this.refreshPid(pid)) {
          record = this.processes.get(pid) as ProcessRecord;
          index = findMapping(record.mappings, address);
        }
      }
      const frame =
        record === undefined || index < 0
          ? unresolvedFrame(address, UNKNOWN_MODULE, address, undefined, false)
          : this.userFrame(record, index, address);
      if (frame.symbol === undefined) this.unresolvedFrames++;
      return frame;
    });
  }

  /**
   * Reads kallsyms now unless this process already has it (a third of a second of CPU for
   * ~120,000 symbols): a collector calls this as it starts, inside its run's warm-up, so the
   * first kernel stack does not put that one-off cost into a budget window.
   */
  loadKernelSymbols(): KernelSymbols {
    let kernel = kernelSymbolsByPath.get(this.kallsymsPath);
    if (kernel === undefined) {
      kernel = new KernelSymbols(this.kallsymsPath);
      kernelSymbolsByPath.set(this.kallsymsPath, kernel);
    }
    return kernel;
  }

  /** One frame per address, in order; reads kallsyms on first use. */
  symbolizeKernel(addresses: bigint[]): Frame[] {
    const kernel = this.loadKernelSymbols();
    return addresses.map((address) => {
      const frame = kernel.resolve(address);
      if (frame.symbol === undefined) this.unresolvedFrames++;
      return frame;
    });
  }

  /** Re-reads kallsyms on the next kernel stack, after modules or BPF programs changed. */
  reloadKernelSymbols(): void {
    kernelSymbolsByPath.delete(this.kallsymsPath);
  }

  stats(): SymbolizerStats {
    return {
      processes: this.processes.size,
      elfFiles: this.elfByBuildId.size,
      elfHits: this.elfHits,
      elfMisses: this.elfMisses,
      unresolvedFrames: this.unresolvedFrames,
      elfReadFailures: this.elfReadFailures,
    };
  }

  private userFrame(record: ProcessRecord, index: number, address: bigint): Frame {
    const mapping = record.mappings[index] as Mapping;
    const elf = record.elfFiles[index];
    const module = moduleOf(mapping);
    const isVdso = mapping.path === VDSO;
    if (!isFileBacked(mapping) && !isVdso)
      return unresolvedFrame(address, module, address, undefined, false);
    // The vdso is an ELF image mapped from its first byte, so its "file offset" is the offset
    // in the mapping; that keeps vdso frames equal across processes despite ASLR.
    const fileOffset = address - mapping.start + (isVdso ? 0n : mapping.fileOffset);
    const virtualAddress = elf?.virtualAddress(fileOffset);
    const symbol = virtualAddress === undefined ? undefined : elf?.symbolAt(virtualAddress);
    if (symbol === undefined || virtualAddress === undefined)
      return unresolvedFrame(address, module, fileOffset, elf?.buildId, false);
    return resolvedFrame(
      address,
      symbol.name,
      virtualAddress - symbol.start,
      module,
      elf?.buildId,
      false,
    );
  }

  /**
   * The ELF file behind each mapping. Files are parsed only when some mapping of them is
   * executable (only code addresses are sampled); every mapping of such a file shares it.
   */
  private elfFilesFor(pid: number, mappings: Mapping[]): Array<ElfFile | undefined> {
    const byFile = new Map<string, ElfFile | undefined>();
    for (const mapping of mappings) {
      if (!mapping.executable) continue;
      const file = `${mapping.device}:${mapping.inode}`;
      if (isFileBacked(mapping) && !byFile.has(file))
        byFile.set(file, this.loadMappedFile(pid, mapping));
    }
    return mappings.map((mapping) => {
      if (mapping.path === VDSO) return this.loadVdso(pid, mapping);
      if (!isFileBacked(mapping)) return undefined;
      return byFile.get(`${mapping.device}:${mapping.inode}`);
    });
  }

  /**
   * Opens the file through /proc/PID/map_files/START-END first: that link reaches the very
   * inode mapped even when the file was deleted or lives in another mount namespace (reading
   * it needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE, which the agent has as root). The path
   * is the fallback.
   */
  private loadMappedFile(pid: number, mapping: Mapping): ElfFile | undefined {
    const mapFile = `${this.procRoot}/${pid}/map_files/${mapping.start.toString(16)}-${mapping.end.toString(16)}`;
    let openPath = mapFile;
    let identity: string;
    try {
      let stat;
      try {
        stat = statSync(mapFile, { bigint: true });
      } catch {
        openPath = mapping.path;
        stat = statSync(openPath, { bigint: true });
      }
      identity = `${mapping.device}:${mapping.inode}:${stat.size}:${stat.mtimeNs}`;
    } catch {
      this.elfReadFailures++;
      return undefined;
    }

    const known = this.elfByIdentity.get(identity);
    if (known !== undefined) {
      this.elfHits++;
      return known ?? undefined;
    }
    try {
      let reused = false;
      const elf = ElfFile.read(openPath, (buildId) => {
        const cached = this.elfByBuildId.get(buildId);
        reused = cached !== undefined;
        return cached;
      });
      if (reused) this.elfHits++;
      else {
        this.elfMisses++;
        this.elfByBuildId.set(elf.buildId ?? identity, elf);
      }
      this.elfByIdentity.set(identity, elf);
      return elf;
    } catch (err) {
      this.elfReadFailures++;
      if (err instanceof ElfFormatError) this.elfByIdentity.set(identity, null);
      return undefined;
    }
  }

  /**
   * The vdso has no file; its image is read from the process's memory (root may read any
   * process's /proc/PID/mem). It is the same for every process of one ABI on a kernel, so the
   * build id cache keeps one copy.
   */
  private loadVdso(pid: number, mapping: Mapping): ElfFile | undefined {
    const length = Number(mapping.end - mapping.start);
    const image = Buffer.alloc(length);
    let fd: number | undefined;
    try {
      fd = openSync(`${this.procRoot}/${pid}/mem`, 'r');
      let filled = 0;
      while (filled < length) {
        const got = readSync(fd, image, filled, length - filled, mapping.start + BigInt(filled));
        if (got === 0) throw new Error('short read of the vdso');
        filled += got;
      }
    } catch {
      this.elfReadFailures++;
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    let elf: ElfFile;
    let reused = false;
    try {
      // Every process has the same vdso: its build id (in the headers) finds the parsed one,
      // so under process churn each new process costs a small read, not a parse.
      elf = ElfFile.parse(image, `${VDSO} of process ${pid}`, (buildId) => {
        const cached = this.elfByBuildId.get(buildId);
        reused = cached !== undefined;
        return cached;
      });
    } catch {
      this.elfReadFailures++;
      return undefined;
    }
    if (reused) {
      this.elfHits++;
      return elf;
    }
    this.elfMisses++;
    if (elf.buildId !== undefined) this.elfByBuildId.set(elf.buildId, elf);
    return elf;
  }
}
