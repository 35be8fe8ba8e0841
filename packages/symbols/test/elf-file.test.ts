// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ElfFile, ElfFormatError } from '../src/index';
import { buildProbe, readelfBuildId } from './probe-program';

let workDir: string;
let probeBinary: string;

before(() => {
  workDir = mkdtempSync(join(tmpdir(), 'fleettrace-elf-'));
  probeBinary = buildProbe(workDir);
});

after(() => rmSync(workDir, { recursive: true, force: true }));

/** Value and size of a symbol as `readelf -sW` prints it. */
function readelfSymbol(path: string, name: string): { value: bigint; size: bigint } {
  const table = execFileSync('readelf', ['-sW', path], { encoding: 'utf8' });
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[7] === name)
      return { value: BigInt(`0x${fields[1]}`), size: BigInt(fields[2] as string) };
  }
  throw new Error(`readelf -s ${path} has no ${name}`);
}

test('the build id of a system binary is the one readelf prints', () => {
  const elf = ElfFile.parse(readFileSync('/bin/true'), '/bin/true');
  assert.match(elf.buildId ?? '', /^[0-9a-f]{40}$/);
  assert.equal(elf.buildId, readelfBuildId('/bin/true'));
  assert.equal(ElfFile.read('/bin/true').buildId, elf.buildId);
});

test('functions of an unstripped executable are found by address', () => {
  const elf = ElfFile.read(probeBinary);
  assert.equal(elf.hasSymtab, true);
  assert.equal(elf.buildId, readelfBuildId(probeBinary));

  const probe = readelfSymbol(probeBinary, 'fleettrace_symbols_probe');
  assert.ok(probe.size > 0n);
  assert.deepEqual(elf.symbolAt(probe.value), {
    name: 'fleettrace_symbols_probe',
    start: probe.value,
  });
  assert.deepEqual(elf.symbolAt(probe.value + probe.size - 1n), {
    name: 'fleettrace_symbols_probe',
    start: probe.value,
  });
  assert.notEqual(elf.symbolAt(probe.value + probe.size)?.name, 'fleettrace_symbols_probe');

  // A size-0 function covers what follows it up to the next symbol.
  const unsized = readelfSymbol(probeBinary, 'fleettrace_unsized');
  assert.equal(unsized.size, 0n);
  assert.deepEqual(elf.symbolAt(unsized.value + 2n), {
    name: 'fleettrace_unsized',
    start: unsized.value,
  });

  assert.equal(elf.symbolAt(0n), undefined);
});

test('file offsets map to virtual addresses through PT_LOAD', () => {
  const elf = ElfFile.read(probeBinary);
  const headers = execFileSync('readelf', ['-lW', probeBinary], { encoding: 'utf8' });
  const code = headers
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[0] === 'LOAD' && fields[6] === 'R' && fields[7] === 'E');
  assert.ok(code !== undefined, 'an executable LOAD segment');
  const [offset, virtualAddress, , fileSize] = code.slice(1, 5).map((field) => BigInt(field));
  assert.ok(offset !== undefined && virtualAddress !== undefined && fileSize !== undefined);
  assert.equal(elf.virtualAddress(offset + 0x10n), virtualAddress + 0x10n);
  assert.equal(elf.virtualAddress(offset + fileSize - 1n), virtualAddress + fileSize - 1n);
  assert.equal(elf.virtualAddress(offset + fileSize + 0x100000n), undefined);
  assert.equal(elf.virtualAddress(1n << 40n), undefined);
});

test('a stripped shared library is symbolized from .dynsym', () => {
  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  const elf = ElfFile.read(libc);
  assert.equal(elf.hasSymtab, false);
  const getpid = readelfSymbol(libc, 'getpid@@GLIBC_2.2.5');
  const found = elf.symbolAt(getpid.value + 1n);
  assert.equal(found?.start, getpid.value);
  assert.match(found?.name ?? '', /getpid$/);
});

test('files that are not ELF64 little-endian are refused with the reason', () => {
  assert.throws(() => ElfFile.parse(Buffer.from('#!/bin/sh\n'), 'script'), ElfFormatError);
  assert.throws(() => ElfFile.parse(Buffer.alloc(64), 'zeros'), /zeros: not an ELF file/);
  const elf32 = Buffer.alloc(64);
  elf32.write('\x7fELF', 0, 'latin1');
  elf32[4] = 1;
  elf32[5] = 1;
  assert.throws(() => ElfFile.parse(elf32, 'old'), /old: ELF class 1 is not ELF64/);
  const truncated = readFileSync('/bin/true').subarray(0, 200);
  assert.throws(() => ElfFile.parse(truncated, 'truncated'), /truncated: .* lies outside the file/);
});
