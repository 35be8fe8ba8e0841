// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KernelSymbols } from '../src/index';

const workDir = mkdtempSync(join(tmpdir(), 'fleettrace-kallsyms-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

test('a kernel function resolves from the live /proc/kallsyms', () => {
  const line = readFileSync('/proc/kallsyms', 'utf8')
    .split('\n')
    .find((entry) => entry.endsWith(' read_iter_zero'));
  assert.ok(line !== undefined, 'this kernel has read_iter_zero');
  const address = BigInt(`0x${line.split(' ')[0]}`);
  assert.notEqual(address, 0n, 'the test runs as root and sees real addresses');

  const kernel = new KernelSymbols();
  const frame = kernel.resolve(address);
  assert.equal(frame.symbol, 'read_iter_zero');
  assert.equal(frame.offset, 0n);
  assert.equal(frame.module, 'kernel');
  assert.equal(frame.kernel, true);
  assert.equal(frame.text, 'read_iter_zero+0x0 (kernel)');
  assert.match(frame.buildId ?? '', /^[0-9a-f]{40}$/, 'from /sys/kernel/notes');

  const inside = kernel.resolve(address + 3n);
  assert.equal(inside.symbol, 'read_iter_zero');
  assert.equal(inside.offset, 3n);
  assert.equal(inside.text, 'read_iter_zero+0x3 (kernel)');
});

test('modules, aliases, data boundaries and hidden addresses', () => {
  const path = join(workDir, 'kallsyms');
  writeFileSync(
    path,
    [
      '0000000000000000 T hidden_from_this_reader',
      'ffffffff81000000 t startup_64',
      'ffffffff81000000 T _stext',
      'ffffffff81000100 t helper',
      'ffffffff81200000 D some_data',
      'ffffffff81300000 A absolute_value',
      'ffffffffc0001000 t fn_a\t[mod_a]',
      'ffffffffc0002000 t bpf_prog_6deef7357e7b4530_probe\t[bpf]',
      '',
    ].join('\n'),
  );
  const kernel = new KernelSymbols(path);
  assert.equal(kernel.size, 5);
  assert.equal(kernel.resolve(0xffffffff81000010n).text, '_stext+0x10 (kernel)');
  assert.equal(kernel.resolve(0xffffffff81000100n).text, 'helper+0x0 (kernel)');
  assert.deepEqual(kernel.resolve(0xffffffff81200008n), {
    address: 0xffffffff81200008n,
    module: '[unknown]',
    text: '[unknown]+0xffffffff81200008',
    kernel: true,
  });
  // An absolute symbol is no boundary: the data symbol still covers the address.
  assert.equal(kernel.resolve(0xffffffff81300010n).module, '[unknown]');
  assert.deepEqual(kernel.resolve(0xffffffffc0001020n), {
    address: 0xffffffffc0001020n,
    symbol: 'fn_a',
    offset: 0x20n,
    module: 'mod_a',
    text: 'fn_a+0x20 (mod_a)',
    kernel: true,
  });
  assert.equal(
    kernel.resolve(0xffffffffc0002004n).text,
    'bpf_prog_6deef7357e7b4530_probe+0x4 (bpf)',
  );
  assert.equal(kernel.resolve(0x10n).text, '[unknown]+0x10');

  writeFileSync(path, 'ffffffff81000000 T _stext\nffffffffc0005000 t fn_b\t[mod_b]\n');
  kernel.reload();
  assert.equal(kernel.resolve(0xffffffffc0005001n).text, 'fn_b+0x1 (mod_b)');
});

test('a file not in kallsyms format is refused, naming the line', () => {
  const path = join(workDir, 'not-kallsyms');
  writeFileSync(path, 'ffffffff81000000 T _stext\nhello world\n');
  assert.throws(() => new KernelSymbols(path), /not-kallsyms line 2 is not/);
});

test('a reader that kptr_restrict shows only zeros gets unknown frames', () => {
  const path = join(workDir, 'kallsyms-restricted');
  writeFileSync(path, '0000000000000000 T _stext\n0000000000000000 t read_iter_zero\n');
  const kernel = new KernelSymbols(path);
  assert.equal(kernel.size, 0);
  assert.equal(kernel.resolve(0xffffffff81d35fe0n).text, '[unknown]+0xffffffff81d35fe0');
});
