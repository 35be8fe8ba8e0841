// SPDX-License-Identifier: Apache-2.0
/**
 * What symbolization needs from an ELF64 little-endian file: function symbols from .symtab and
 * .dynsym, the GNU build id note, and the PT_LOAD segments that turn a file offset into the
 * virtual address symbols are expressed in. Layouts are those of the System V gABI and
 * <elf.h> (Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr, Elf64_Sym).
 *
 * Only the headers, the notes and the symbol and string tables are read, so a 200 MB binary
 * costs its symbol tables, not its size. ELF32 and big-endian files are refused with an
 * ElfFormatError: fleettrace runs on x86_64 and arm64 hosts, and 32-bit processes are not
 * symbolized.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { findGnuBuildId } from './elf-notes';

/** The bytes are not an ELF64 little-endian file this module can read; `source` says which. */
export class ElfFormatError extends Error {
  constructor(
    readonly source: string,
    problem: string,
  ) {
    super(`${source}: ${problem}`);
    this.name = 'ElfFormatError';
  }
}

const ELF_HEADER_SIZE = 64;
const PROGRAM_HEADER_SIZE = 56;
const SECTION_HEADER_SIZE = 64;
const SYMBOL_SIZE = 24;

const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_X = 1;
const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const SHT_NOBITS = 8;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
/** An indirect function: st_value is its resolver, which is code and worth naming. */
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;
const STB_GLOBAL = 1;
const STB_WEAK = 2;
const SHN_UNDEF = 0;
/** Section indices from here up are special (SHN_ABS, SHN_COMMON, SHN_XINDEX), not sections. */
const SHN_LORESERVE = 0xff00;
/** e_phnum value meaning "the count is in section 0's sh_info" (gABI extended numbering). */
const PN_XNUM = 0xffff;
const END_OF_ADDRESS_SPACE = (1n << 64n) - 1n;

/** Reads byte ranges of an ELF image: a Buffer for parse(), a file descriptor for read(). */
interface ByteSource {
  readonly description: string;
  readonly size: number;
  /** exactly `length` bytes at `offset`; the caller has checked the range lies inside `size` */
  read(offset: number, length: number): Buffer;
}

function bufferSource(bytes: Buffer, description: string): ByteSource {
  return {
    description,
    size: bytes.length,
    read: (offset, length) => bytes.subarray(offset, offset + length),
  };
}

function fileSource(fd: number, description: string): ByteSource {
  return {
    description,
    size: fstatSync(fd).size,
    read(offset, length) {
      const out = Buffer.alloc(length);
      let filled = 0;
      while (filled < length) {
        const got = readSync(fd, out, filled, length - filled, offset + filled);
        if (got === 0) throw new ElfFormatError(description, `file shrank while being read`);
        filled += got;
      }
      return out;
    },
  };
}

interface SectionHeader {
  type: number;
  flags: bigint;
  address: bigint;
  offset: number;
  size: number;
  link: number;
  addressAlignment: bigint;
  entrySize: number;
}

interface LoadSegment {
  fileOffset: bigint;
  fileSize: bigint;
  virtualAddress: bigint;
  executable: boolean;
}

/** The headers of an image: enough to learn its build id before reading its symbols. */
interface ElfLayout {
  sections: SectionHeader[];
  /** PT_LOAD segments, executable ones first (see ElfFile.virtualAddress) */
  segments: LoadSegment[];
  buildId: string | undefined;
  hasSymtab: boolean;
}

/** Function symbols sorted by start, one per start address, in parallel arrays. */
interface SymbolTable {
  starts: BigUint64Array;
  /**
   * exclusive end: start + st_size for sized symbols; for size-0 symbols the end of their
   * section, so "nearest preceding" never reaches into another section
   */
  ends: BigUint64Array;
  sized: Uint8Array;
  /** largest end among sized symbols at or before each index, to stop the containment search */
  sizedEndPrefixMax: BigUint64Array;
  names: string[];
}

function toSafeNumber(value: bigint, source: ByteSource, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw new ElfFormatError(source.description, `${what} 0x${value.toString(16)} is too large`);
  return Number(value);
}

function readRange(source: ByteSource, offset: number, length: number, what: string): Buffer {
  if (offset < 0 || length < 0 || offset + length > source.size)
    throw new ElfFormatError(
      source.description,
      `${what} (offset ${offset}, ${length} bytes) lies outside the file of ${source.size} bytes`,
    );
  return source.read(offset, length);
}

function readSectionHeader(table: Buffer, at: number, source: ByteSource): SectionHeader {
  return {
    type: table.readUInt32LE(at + 4),
    flags: table.readBigUInt64LE(at + 8),
    address: table.readBigUInt64LE(at + 16),
    offset: toSafeNumber(table.readBigUInt64LE(at + 24), source, 'section offset'),
    size: toSafeNumber(table.readBigUInt64LE(at + 32), source, 'section size'),
    link: table.readUInt32LE(at + 40),
    addressAlignment: table.readBigUInt64LE(at + 48),
    entrySize: toSafeNumber(table.readBigUInt64LE(at + 56), source, 'section entry size'),
  };
}

function readLayout(source: ByteSource): ElfLayout {
  if (source.size < ELF_HEADER_SIZE)
    throw new ElfFormatError(source.description, `too small (${source.size} bytes) to be ELF`);
  const header = source.read(0, ELF_HEADER_SIZE);
  if (header.readUInt32BE(0) !== 0x7f454c46)
    throw new ElfFormatError(source.description, 'not an ELF file (bad magic)');
  if (header[4] !== ELFCLASS64)
    throw new ElfFormatError(source.description, `ELF class ${header[4]} is not ELF64`);
  if (header[5] !== ELFDATA2LSB)
    throw new ElfFormatError(source.description, 'big-endian ELF is not supported');

  const programHeaderOffset = toSafeNumber(header.readBigUInt64LE(0x20), source, 'e_phoff');
  const sectionHeaderOffset = toSafeNumber(header.readBigUInt64LE(0x28), source, 'e_shoff');
  const programHeaderSize = header.readUInt16LE(0x36);
  let programHeaderCount = header.readUInt16LE(0x38);
  const sectionHeaderSize = header.readUInt16LE(0x3a);
  let sectionHeaderCount = header.readUInt16LE(0x3c);

  const sections: SectionHeader[] = [];
  if (sectionHeaderOffset !== 0) {
    if (sectionHeaderSize < SECTION_HEADER_SIZE)
      throw new ElfFormatError(source.description, `e_shentsize ${sectionHeaderSize} < 64`);
    // Files with 0xff00 or more sections keep the real counts in section 0 (extended numbering).
    const first = readRange(source, sectionHeaderOffset, sectionHeaderSize, 'section header 0');
    if (sectionHeaderCount === 0)
      sectionHeaderCount = toSafeNumber(first.readBigUInt64LE(32), source, 'section count');
    if (programHeaderCount === PN_XNUM) programHeaderCount = first.readUInt32LE(44);
    const table = readRange(
      source,
      sectionHeaderOffset,
      sectionHeaderSize * sectionHeaderCount,
      'section header table',
    );
    for (let index = 0; index < sectionHeaderCount; index++)
      sections.push(readSectionHeader(table, index * sectionHeaderSize, source));
  }

  const segments: LoadSegment[] = [];
  const noteSegments: Array<{ offset: number; size: number; alignment: bigint }> = [];
  if (programHeaderOffset !== 0 && programHeaderCount > 0) {
    if (programHeaderSize < PROGRAM_HEADER_SIZE)
      throw new ElfFormatError(source.description, `e_phentsize ${programHeaderSize} < 56`);
    const table = readRange(
      source,
      programHeaderOffset,
      programHeaderSize * programHeaderCount,
      'program header table',
    );
    for (let index = 0; index < programHeaderCount; index++) {
      const at = index * programHeaderSize;
      const type = table.readUInt32LE(at);
      if (type === PT_LOAD)
        segments.push({
          executable: (table.readUInt32LE(at + 4) & PF_X) !== 0,
          fileOffset: table.readBigUInt64LE(at + 8),
          virtualAddress: table.readBigUInt64LE(at + 16),
          fileSize: table.readBigUInt64LE(at + 32),
        });
      else if (type === PT_NOTE)
        noteSegments.push({
          offset: toSafeNumber(table.readBigUInt64LE(at + 8), source, 'p_offset'),
          size: toSafeNumber(table.readBigUInt64LE(at + 32), source, 'p_filesz'),
          alignment: table.readBigUInt64LE(at + 48),
        });
    }
  }
  segments.sort((a, b) => Number(b.executable) - Number(a.executable));

  // Section headers name the notes precisely; PT_NOTE covers files whose section headers
  // were removed (sstrip) and in-memory images such as the vdso read from /proc/PID/mem.
  let buildId: string | undefined;
  const noteBlocks = [
    ...sections
      .filter((section) => section.type === SHT_NOTE)
      .map((section) => ({
        offset: section.offset,
        size: section.size,
        alignment: section.addressAlignment,
      })),
    ...noteSegments,
  ];
  for (const block of noteBlocks) {
    if (block.offset + block.size > source.size) continue;
    buildId = findGnuBuildId(source.read(block.offset, block.size), Number(block.alignment));
    if (buildId !== undefined) break;
  }

  return {
    sections,
    segments,
    buildId,
    hasSymtab: sections.some((section) => section.type === SHT_SYMTAB),
  };
}

interface SymbolCandidate {
  start: bigint;
  end: bigint;
  sized: boolean;
  /** lower is preferred among symbols sharing a start: GLOBAL, then WEAK, then LOCAL */
  bindingRank: number;
  name: string;
}

function bindingRank(binding: number): number {
  if (binding === STB_GLOBAL) return 0;
  if (binding === STB_WEAK) return 1;
  if (binding === STB_LOCAL) return 2;
  return 3;
}

function collectFunctions(
  source: ByteSource,
  layout: ElfLayout,
  table: SectionHeader,
  out: SymbolCandidate[],
): void {
  const strings = layout.sections[table.link];
  if (strings === undefined || strings.type === SHT_NOBITS)
    throw new ElfFormatError(source.description, `symbol table links to no string table`);
  const entrySize = table.entrySize >= SYMBOL_SIZE ? table.entrySize : SYMBOL_SIZE;
  const symbols = readRange(source, table.offset, table.size, 'symbol table');
  const names = readRange(source, strings.offset, strings.size, 'string table');
  for (let at = 0; at + SYMBOL_SIZE <= symbols.length; at += entrySize) {
    const info = symbols.readUInt8(at + 4);
    const type = info & 0xf;
    if (type !== STT_FUNC && type !== STT_GNU_IFUNC) continue;
    const sectionIndex = symbols.readUInt16LE(at + 6);
    const start = symbols.readBigUInt64LE(at + 8);
    if (sectionIndex === SHN_UNDEF || start === 0n) continue;
    const nameOffset = symbols.readUInt32LE(at);
    const nameEnd = names.indexOf(0, nameOffset);
    if (nameOffset >= names.length || nameEnd <= nameOffset) continue;
    const size = symbols.readBigUInt64LE(at + 16);
    let end = start + size;
    if (size === 0n) {
      const section = sectionIndex < SHN_LORESERVE ? layout.sections[sectionIndex] : undefined;
      end = section === undefined ? END_OF_ADDRESS_SPACE : section.address + BigInt(section.size);
    }
    out.push({
      start,
      end: end > END_OF_ADDRESS_SPACE ? END_OF_ADDRESS_SPACE : end,
      sized: size !== 0n,
      bindingRank: bindingRank(info >> 4),
      name: names.toString('utf8', nameOffset, nameEnd),
    });
  }
}

function readSymbols(source: ByteSource, layout: ElfLayout): SymbolTable {
  const candidates: SymbolCandidate[] = [];
  // .symtab first: among equally ranked aliases the first seen wins, and .symtab also
  // names the static functions .dynsym lacks.
  for (const type of [SHT_SYMTAB, SHT_DYNSYM])
    for (const section of layout.sections)
      if (section.type === type) collectFunctions(source, layout, section, candidates);

  candidates.sort((a, b) => {
    if (a.start !== b.start) return a.start < b.start ? -1 : 1;
    if (a.sized !== b.sized) return a.sized ? -1 : 1;
    return a.bindingRank - b.bindingRank;
  });
  const unique = candidates.filter(
    (candidate, index) => index === 0 || candidates[index - 1]?.start !== candidate.start,
  );

  const table: SymbolTable = {
    starts: new BigUint64Array(unique.length),
    ends: new BigUint64Array(unique.length),
    sized: new Uint8Array(unique.length),
    sizedEndPrefixMax: new BigUint64Array(unique.length),
    names: new Array<string>(unique.length),
  };
  let sizedEndMax = 0n;
  unique.forEach((symbol, index) => {
    table.starts[index] = symbol.start;
    table.ends[index] = symbol.end;
    table.sized[index] = symbol.sized ? 1 : 0;
    if (symbol.sized && symbol.end > sizedEndMax) sizedEndMax = symbol.end;
    table.sizedEndPrefixMax[index] = sizedEndMax;
    table.names[index] = symbol.name;
  });
  return table;
}

/**
 * An ELF file's function symbols, build id and load segments. Immutable once built: the
 * symbolizer shares one instance between every process mapping the same file.
 */
export class ElfFile {
  readonly buildId: string | undefined;
  /** whether it had a .symtab (not stripped); .dynsym alone names only exported functions */
  readonly hasSymtab: boolean;
  private readonly segments: LoadSegment[];
  private readonly symbols: SymbolTable;
  /** estimated bytes held: the symbol arrays, their names and the segments */
  readonly approxBytes: number;

  private constructor(layout: ElfLayout, symbols: SymbolTable) {
    this.buildId = layout.buildId;
    this.hasSymtab = layout.hasSymtab;
    this.segments = layout.segments;
    this.symbols = symbols;
    let names = 0;
    for (const name of symbols.names) names += name.length;
    // per symbol: three 8-byte bigints, a flag byte, an 8-byte array slot and a 16-byte string header
    this.approxBytes = 256 + symbols.starts.length * 49 + names + layout.segments.length * 64;
  }

  /**
   * Reads the file at `path`. When `reuse` is given and returns a file for this file's build
   * id, that file is returned and the symbol tables are not read: the same build id means the
   * same code, wherever the file lives. Throws ElfFormatError for files this module cannot
   * read and the fs error when the file cannot be opened.
   */
  static read(path: string, reuse?: (buildId: string) => ElfFile | undefined): ElfFile {
    const fd = openSync(path, 'r');
    try {
      const source = fileSource(fd, path);
      const layout = readLayout(source);
      const known = layout.buildId === undefined ? undefined : reuse?.(layout.buildId);
      return known ?? new ElfFile(layout, readSymbols(source, layout));
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Parses an image held in memory; `description` names it in errors. `reuse` as for read():
   * a known build id skips the symbol tables.
   */
  static parse(
    bytes: Buffer,
    description = 'ELF image',
    reuse?: (buildId: string) => ElfFile | undefined,
  ): ElfFile {
    const source = bufferSource(bytes, description);
    const layout = readLayout(source);
    const known = layout.buildId === undefined ? undefined : reuse?.(layout.buildId);
    return known ?? new ElfFile(layout, readSymbols(source, layout));
  }

  /**
   * File offset -> ELF virtual address via PT_LOAD; undefined when outside every segment.
   * Executable segments are tried first: a page shared by a code and a data segment
   * (-z noseparate-code) holds code at the offsets a sampled instruction can have.
   */
  virtualAddress(fileOffset: bigint): bigint | undefined {
    for (const segment of this.segments)
      if (fileOffset >= segment.fileOffset && fileOffset < segment.fileOffset + segment.fileSize)
        return segment.virtualAddress + (fileOffset - segment.fileOffset);
    return undefined;
  }

  /**
   * The function containing `vaddr` (st_value <= vaddr < st_value + st_size). The innermost
   * sized symbol wins; when no sized symbol contains the address and the nearest preceding
   * symbol has size 0 (hand-written assembly often omits .size), that one is returned as long
   * as the address is still in its section. An address in a gap between sized functions
   * (padding, or a static function of a stripped file) has no symbol.
   */
  symbolAt(vaddr: bigint): { name: string; start: bigint } | undefined {
    const { starts, ends, sized, sizedEndPrefixMax, names } = this.symbols;
    // Last symbol starting at or before vaddr.
    let low = 0;
    let high = starts.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((starts[middle] as bigint) <= vaddr) low = middle + 1;
      else high = middle;
    }
    const nearest = low - 1;
    if (nearest < 0) return undefined;
    for (let index = nearest; index >= 0 && (sizedEndPrefixMax[index] as bigint) > vaddr; index--) {
      if (sized[index] === 1 && (ends[index] as bigint) > vaddr)
        return { name: names[index] as string, start: starts[index] as bigint };
    }
    if (sized[nearest] === 0 && (ends[nearest] as bigint) > vaddr)
      return { name: names[nearest] as string, start: starts[nearest] as bigint };
    return undefined;
  }
}
