// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Symbolizer } from '../src/index';
import { buildProbe, mappingLineOf, ProbeProcess, readelfBuildId } from './probe-program';

let workDir: string;
let probeBinary: string;
let strippedBinary: string;

before(() => {
  workDir = mkdtempSync(join(tmpdir(), 'fleettrace-symbols-'));
  probeBinary = buildProbe(join(workDir, 'plain'));
  strippedBinary = buildProbe(join(workDir, 'stripped'), { strip: true });
});

after(() => rmSync(workDir, { recursive: true, force: true }));

test('a function of the executable resolves, also after the process exited', async () => {
  const symbolizer = new Symbolizer();
  const probe = await ProbeProcess.start(probeBinary);
  try {
    assert.equal(symbolizer.notePid(probe.pid), true);
    const expected = {
      address: probe.probeAddress + 5n,
      symbol: 'fleettrace_symbols_probe',
      offset: 5n,
      module: 'prog',
      buildId: readelfBuildId(probeBinary),
      text: 'fleettrace_symbols_probe+0x5 (prog)',
      kernel: false,
    };
    assert.deepEqual(symbolizer.symbolizeUser(probe.pid, [probe.probeAddress + 5n]), [expected]);

    await probe.kill();
    assert.equal(existsSync(`/proc/${probe.pid}`), false);
    assert.deepEqual(symbolizer.symbolizeUser(probe.pid, [probe.probeAddress + 5n]), [expected]);
    assert.equal(symbolizer.notePid(probe.pid), true, 'a remembered process stays known');
    assert.equal(symbolizer.refreshPid(probe.pid), false, 'a gone process cannot be re-read');
    assert.deepEqual(symbolizer.symbolizeUser(probe.pid, [probe.probeAddress + 5n]), [expected]);

    symbolizer.forgetPid(probe.pid);
    assert.deepEqual(symbolizer.symbolizeUser(probe.pid, [probe.probeAddress]), [
      {
        address: probe.probeAddress,
        module: '[unknown]',
        text: `[unknown]+0x${probe.probeAddress.toString(16)}`,
        kernel: false,
      },
    ]);
    assert.equal(symbolizer.notePid(probe.pid), false);
  } finally {
    await probe.kill();
  }
});

test('a stripped executable renders its functions as module+0xfileoffset', async () => {
  const symbolizer = new Symbolizer();
  const probe = await ProbeProcess.start(strippedBinary);
  try {
    const address = probe.probeAddress + 5n;
    const mapping = mappingLineOf(probe.maps(), address);
    const fileOffset = address - mapping.start + mapping.offset;
    assert.ok(symbolizer.notePid(probe.pid));
    assert.deepEqual(symbolizer.symbolizeUser(probe.pid, [address]), [
      {
        address,
        module: 'prog',
        buildId: readelfBuildId(strippedBinary),
        text: `prog+0x${fileOffset.toString(16)}`,
        kernel: false,
      },
    ]);
    assert.equal(symbolizer.stats().unresolvedFrames, 1);
  } finally {
    await probe.kill();
  }
});

test('a libc function resolves to its .dynsym name at offset 0', async () => {
  const symbolizer = new Symbolizer();
  const probe = await ProbeProcess.start(probeBinary);
  try {
    const [frame] = symbolizer.symbolizeUser(probe.pid, [probe.getpidAddress]);
    const libc = mappingLineOf(probe.maps(), probe.getpidAddress).path;
    // nm -D prints versioned names (getpid@@GLIBC_2.2.5); every alias at getpid's value counts.
    const symbols = execFileSync('nm', ['-D', '--defined-only', libc], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.split(' '))
      .filter((fields) => fields.length === 3)
      .map(([value, , name]) => ({ value, name: (name as string).replace(/@.*$/, '') }));
    const getpidValue = symbols.find((symbol) => symbol.name === 'getpid')?.value;
    assert.ok(getpidValue !== undefined, `${libc} exports getpid`);
    const aliases = symbols.filter((s) => s.value === getpidValue).map((s) => s.name);
    assert.ok(frame?.symbol !== undefined && aliases.includes(frame.symbol), frame?.text);
    assert.equal(frame.offset, 0n);
    assert.equal(frame.module, 'libc.so.6');
    assert.equal(frame.text, `${frame.symbol}+0x0 (libc.so.6)`);
    assert.equal(frame.buildId, readelfBuildId(libc));
  } finally {
    await probe.kill();
  }
});

test('memory without a file, the vdso and unmapped addresses', async () => {
  const symbolizer = new Symbolizer();
  const probe = await ProbeProcess.start(probeBinary);
  try {
    const maps = probe.maps();
    const stackLine = maps.split('\n').find((line) => line.endsWith('[stack]'));
    assert.ok(stackLine !== undefined);
    const stackAddress = BigInt(`0x${stackLine.split('-')[0]}`) + 0x10n;
    const [stackFrame, unmappedFrame] = symbolizer.symbolizeUser(probe.pid, [stackAddress, 0x10n]);
    assert.deepEqual(stackFrame, {
      address: stackAddress,
      module: '[stack]',
      text: `[stack]+0x${stackAddress.toString(16)}`,
      kernel: false,
    });
    assert.deepEqual(unmappedFrame, {
      address: 0x10n,
      module: '[unknown]',
      text: '[unknown]+0x10',
      kernel: false,
    });

    // The vdso image, dumped from the probe's memory, read by readelf for the expected name.
    const vdsoLine = maps.split('\n').find((line) => line.endsWith('[vdso]'));
    assert.ok(vdsoLine !== undefined);
    const vdso = mappingLineOf(maps, BigInt(`0x${vdsoLine.split('-')[0]}`));
    const image = Buffer.alloc(Number(vdso.end - vdso.start));
    const fd = openSync(`/proc/${probe.pid}/mem`, 'r');
    try {
      readSync(fd, image, 0, image.length, vdso.start);
    } finally {
      closeSync(fd);
    }
    const vdsoFile = join(workDir, 'vdso.so');
    writeFileSync(vdsoFile, image);
    const load = /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)/m.exec(
      execFileSync('readelf', ['-lW', vdsoFile], { encoding: 'utf8' }),
    );
    assert.ok(load !== null);
    const functions = execFileSync('readelf', ['--dyn-syms', '-W', vdsoFile], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[3] === 'FUNC')
      .map((fields) => ({ value: BigInt(`0x${fields[1]}`), name: fields[7]?.replace(/@.*$/, '') }));
    const clockGettime = functions.find((f) => f.name === '__vdso_clock_gettime');
    assert.ok(clockGettime !== undefined);
    const names = functions.filter((f) => f.value === clockGettime.value).map((f) => f.name);
    const vdsoOffset = clockGettime.value - BigInt(`0x${load[2]}`) + BigInt(`0x${load[1]}`) + 2n;
    const [vdsoFrame] = symbolizer.symbolizeUser(probe.pid, [vdso.start + vdsoOffset]);
    assert.ok(vdsoFrame?.symbol !== undefined && names.includes(vdsoFrame.symbol), vdsoFrame?.text);
    assert.equal(vdsoFrame.offset, 2n);
    assert.equal(vdsoFrame.module, '[vdso]');
    assert.equal(vdsoFrame.buildId, readelfBuildId(vdsoFile));
  } finally {
    await probe.kill();
  }
});

test('a second process of the same binary reuses the parsed files', async () => {
  const symbolizer = new Symbolizer();
  const first = await ProbeProcess.start(probeBinary);
  const second = await ProbeProcess.start(probeBinary);
  try {
    assert.ok(symbolizer.notePid(first.pid));
    const afterFirst = symbolizer.stats();
    assert.ok(afterFirst.elfMisses >= 2, 'prog, libc and ld.so were parsed');
    assert.ok(symbolizer.notePid(second.pid));
    const afterSecond = symbolizer.stats();
    assert.equal(afterSecond.elfMisses, afterFirst.elfMisses);
    assert.ok(afterSecond.elfHits > afterFirst.elfHits);
    assert.equal(afterSecond.processes, 2);
    assert.equal(afterSecond.elfReadFailures, 0);
    const [frame] = symbolizer.symbolizeUser(second.pid, [second.probeAddress]);
    assert.equal(frame?.text, 'fleettrace_symbols_probe+0x0 (prog)');
  } finally {
    await first.kill();
    await second.kill();
  }
});

test('the process LRU forgets the least recently used process', async () => {
  const symbolizer = new Symbolizer({ maxProcesses: 1 });
  const first = await ProbeProcess.start(probeBinary);
  const second = await ProbeProcess.start(probeBinary);
  try {
    assert.ok(symbolizer.notePid(first.pid));
    assert.ok(symbolizer.notePid(second.pid));
    assert.equal(symbolizer.stats().processes, 1);
    await first.kill();
    const [frame] = symbolizer.symbolizeUser(first.pid, [first.probeAddress]);
    assert.equal(frame?.module, '[unknown]');
  } finally {
    await first.kill();
    await second.kill();
  }
});

test('kernel addresses resolve through kallsyms', () => {
  const symbolizer = new Symbolizer();
  const line = execFileSync('grep', ['-m1', ' read_iter_zero$', '/proc/kallsyms'], {
    encoding: 'utf8',
  });
  const address = BigInt(`0x${line.split(' ')[0]}`);
  const [frame] = symbolizer.symbolizeKernel([address + 3n]);
  assert.equal(frame?.text, 'read_iter_zero+0x3 (kernel)');
  assert.equal(frame?.kernel, true);
});
