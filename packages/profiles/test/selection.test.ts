// SPDX-License-Identifier: Apache-2.0
/** Selections: every field checked with a reason naming it, values quoted, the SQL shaped as documented. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@fleettrace/common';
import { parseSelection, quoteString, selectionSql, type SelectionInput } from '../src/selection';
import { profileFromRows } from '../src/stack-rows';

const refused = (input: unknown, field: string, reason: RegExp) =>
  assert.throws(
    () => parseSelection(input),
    (err: unknown) =>
      err instanceof ValidationError && err.field === field && reason.test(err.reason)
        ? true
        : assert.fail(`expected ${field}: ${reason}, got ${String(err)}`),
  );

test('every field is checked, and the error names it', () => {
  refused({}, 'collector', /must be one of cpu_profile, offcpu/);
  refused({ collector: 'proc' }, 'collector', /must be one of cpu_profile, offcpu, got "proc"/);
  refused(
    { collector: 'cpu_profile', value: 'total_ns' },
    'value',
    /samples, cpu_ns, weighted for cpu_profile/,
  );
  refused({ collector: 'offcpu', value: 'bogus' }, 'value', /must be one of/);
  refused({ collector: 'cpu_profile', state: 'uninterruptible' }, 'state', /offcpu collector only/);
  refused({ collector: 'offcpu', state: 'sleeping' }, 'state', /must be one of interruptible/);
  refused({ collector: 'cpu_profile', uid: 'x' }, 'uid', /must be an integer, got "x"/);
  refused({ collector: 'cpu_profile', uid: -1 }, 'uid', /between 0 and 4294967295/);
  refused({ collector: 'cpu_profile', pid: 1.5 }, 'pid', /must be an integer/);
  refused({ collector: 'cpu_profile', job_id: "j'1" }, 'job_id', /must be a job id/);
  refused({ collector: 'cpu_profile', hosts: 'a,b c' }, 'hosts[1]', /must be a host name/);
  refused({ collector: 'cpu_profile', comm: 'a'.repeat(16) }, 'comm', /1 to 15 characters/);
  refused(
    { collector: 'cpu_profile', since: 'yesterday' },
    'since',
    /duration such as 10m .* or an RFC 3339 time/,
  );
  refused({ collector: 'cpu_profile', since: '400d' }, 'since', /must be a duration/);
  refused({ collector: 'cpu_profile', since: '10m', until: '20m' }, 'until', /later than since/);
  refused({ collector: 'cpu_profile', until: '2h' }, 'until', /later than since \(1h\)/);
  refused({ collector: 'cpu_profile', user: 'bob' }, 'user', /unknown field/);
});

test('query-string text is taken: digits, comma-separated hosts, empty values absent', () => {
  const s = parseSelection({
    collector: 'offcpu',
    uid: '1001',
    pid: '',
    hosts: 'web-1, web-2',
    state: 'uninterruptible',
    value: 'blocks',
  });
  assert.deepEqual(JSON.parse(JSON.stringify(s)), {
    collector: 'offcpu',
    uid: 1001,
    hosts: ['web-1', 'web-2'],
    state: 'uninterruptible',
    value: 'blocks',
  });
});

test('strings are quoted as ClickHouse literals', () => {
  assert.equal(quoteString("it's"), "'it\\'s'");
  assert.equal(quoteString('a\\b'), "'a\\\\b'");
  assert.equal(quoteString('tab\there'), "'tab\\x09here'");
  // A comm may hold quotes and backslashes: they stay inside the literal.
  const sql = selectionSql({ collector: 'cpu_profile', comm: "x' OR 1=1 --\\" });
  assert.match(sql, /comm = 'x\\' OR 1=1 --\\\\'/);
});

test('the SQL: the collector table FINAL, the filters, the value, frames root first from stacks', () => {
  const input: SelectionInput = {
    collector: 'cpu_profile',
    value: 'weighted',
    job_id: 'job_1',
    hosts: ['web-1', 'web-2'],
    uid: 1001,
    pid: 42,
    comm: 'php-fpm',
    since: '20m',
    until: '10m',
  };
  const sql = selectionSql(input);
  assert.match(sql, /FROM fleettrace\.cpu_profile FINAL/);
  assert.match(sql, /toUInt64\(round\(sum\(samples \* weight\) \* 1000\)\) AS value/);
  for (const condition of [
    'time >= now() - INTERVAL 1200 SECOND',
    'time < now() - INTERVAL 600 SECOND',
    "job_id = 'job_1'",
    "host IN ('web-1', 'web-2')",
    'uid = 1001',
    'pid = 42',
    "comm = 'php-fpm'",
  ])
    assert.ok(sql.includes(condition), `${condition} in\n${sql}`);
  assert.match(sql, /arrayReverse\(arrayConcat\(s\.kernel_frames, s\.user_frames\)\) AS frames/);
  assert.match(sql, /LEFT JOIN/);
  const offcpu = selectionSql({
    collector: 'offcpu',
    state: 'uninterruptible',
    since: '2026-01-31T12:00:00Z',
    until: '2026-01-31T14:00:00+01:00',
  });
  assert.match(offcpu, /sum\(total_ns\) AS value/);
  assert.match(offcpu, /state = 'uninterruptible'/);
  assert.ok(
    offcpu.includes(`time >= toDateTime(${Date.parse('2026-01-31T12:00:00Z') / 1000}, 'UTC')`),
  );
  assert.ok(
    offcpu.includes(`time < toDateTime(${Date.parse('2026-01-31T13:00:00Z') / 1000}, 'UTC')`),
  );
});

test('rows become a profile: lost and unknown stacks named, values beyond 2^53 refused', () => {
  const selection = parseSelection({ collector: 'cpu_profile', value: 'cpu_ns' });
  const profile = profileFromRows(
    [
      { stack_id: 'a1', frames: ['main+0x1 (app)'], value: '20' },
      { stack_id: '', lost_reason: 'no_kernel_stack', frames: [], value: 3 },
      { stack_id: 'b2', frames: [], value: '4' },
    ],
    selection,
  );
  assert.deepEqual(profile.sampleType, { type: 'cpu', unit: 'nanoseconds' });
  assert.deepEqual(profile.stacks, [
    { frames: ['[lost stack: no_kernel_stack]'], value: 3 },
    { frames: ['[unknown stack b2]'], value: 4 },
    { frames: ['main+0x1 (app)'], value: 20 },
  ]);
  assert.throws(
    () =>
      profileFromRows([{ stack_id: 'a1', frames: ['x'], value: '9007199254740993' }], selection),
    (err: unknown) =>
      err instanceof ValidationError && err.field === 'value' && /beyond 2\^53/.test(err.reason),
  );
});
