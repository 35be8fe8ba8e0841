// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProcessMaps, ProcessGoneError, readProcessMaps } from '../src/index';

const SAMPLE = `5581e3a00000-5581e3a01000 r--p 00000000 fe:01 1311233                    /tmp/run/prog
5581e3a01000-5581e3a02000 r-xp 00001000 fe:01 1311233                    /tmp/run/prog (deleted)
5581e4c3d000-5581e4c5e000 rw-p 00000000 00:00 0                          [heap]
7f0d2a428000-7f0d2a5a1000 r-xp 00028000 fe:01 2097171                    /usr/lib/x86_64-linux-gnu/libc.so.6
7f0d2a600000-7f0d2a601000 rw-p 00000000 00:00 0 
7f0d2a700000-7f0d2a701000 r-xp 00000000 00:00 0
7f0d2a800000-7f0d2a801000 r--p 00000000 fe:01 42                         /srv/my app/data file
7ffd1c9d6000-7ffd1c9f7000 rw-p 00000000 00:00 0                          [stack]
7ffd1c9fe000-7ffd1ca00000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`;

test('a maps text parses into mappings', () => {
  const mappings = parseProcessMaps(SAMPLE);
  assert.equal(mappings.length, 10);
  assert.deepEqual(mappings[1], {
    start: 0x5581e3a01000n,
    end: 0x5581e3a02000n,
    fileOffset: 0x1000n,
    path: '/tmp/run/prog',
    inode: 1311233,
    device: 'fe:01',
    executable: true,
    deleted: true,
  });
  assert.equal(mappings[0]?.deleted, false);
  assert.equal(mappings[0]?.executable, false);
  assert.equal(mappings[3]?.fileOffset, 0x28000n);
  assert.equal(mappings[3]?.path, '/usr/lib/x86_64-linux-gnu/libc.so.6');
  assert.equal(mappings[4]?.path, '', 'anonymous, with the trailing space older kernels print');
  assert.equal(mappings[5]?.path, '', 'anonymous, without it');
  assert.equal(mappings[5]?.executable, true);
  assert.equal(mappings[6]?.path, '/srv/my app/data file');
  assert.deepEqual(mappings[8], {
    start: 0x7ffd1c9fe000n,
    end: 0x7ffd1ca00000n,
    fileOffset: 0n,
    path: '[vdso]',
    inode: 0,
    device: '00:00',
    executable: true,
    deleted: false,
  });
  assert.equal(mappings[9]?.end, 0xffffffffff601000n);
});

test('a line not in the kernel format is reported with its number', () => {
  assert.throws(() => parseProcessMaps('5581e3a00000-5581e3a01000 r--p\n'), /maps line 1 /);
});

test('the maps of a live process are read and a gone one says so', () => {
  const own = readProcessMaps(process.pid);
  assert.ok(own.some((mapping) => mapping.executable && mapping.path === process.execPath));
  assert.throws(() => readProcessMaps(0x7fffffff), ProcessGoneError);
});
