// SPDX-License-Identifier: Apache-2.0
/** Logic of the collector spec: the migration planner, parameter checks and TabSeparated values. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@fleettrace/common';
import {
  alwaysOnCollectors,
  defineCollector,
  desiredState,
  encoderOf,
  p,
  parseParamsWith,
  planSteps,
  z,
  type CollectorManifest,
} from '../src';

const base = (columns: CollectorManifest['table']['columns']): CollectorManifest =>
  defineCollector({
    name: 'demo',
    description: 'a demo',
    role: 'operator',
    params: z.strictObject({}),
    requires: ['btf'],
    minKernel: { version: '5.8', why: 'ring buffers' },
    table: { columns, sortKey: ['uid', 'host', 'ts_ns'] },
  });

test('a new column becomes one ADD COLUMN after its predecessor; nothing else is generated', () => {
  const v1 = desiredState([base([{ name: 'a', type: 'UInt64', doc: 'a' }])]);
  const v2 = desiredState([
    base([
      { name: 'a', type: 'UInt64', doc: 'a' },
      { name: 'b', type: 'String', doc: 'b' },
    ]),
  ]);
  assert.deepEqual(planSteps(v1, v2), [
    { kind: 'add', table: 'fleettrace.demo', column: ['b', 'String'], after: 'a' },
  ]);
  assert.deepEqual(planSteps(v2, v2), []);
});

test('a changed type or a removed column is refused with what to do', () => {
  const v1 = desiredState([base([{ name: 'a', type: 'UInt64', doc: 'a' }])]);
  const changed = desiredState([base([{ name: 'a', type: 'Int64', doc: 'a' }])]);
  assert.throws(
    () => planSteps(v1, changed),
    /fleettrace\.demo\.a changed type \(UInt64 -> Int64\)/,
  );
  assert.throws(() => planSteps(v1, desiredState([base([])])), /a was removed from its manifest/);
  assert.throws(() => planSteps(v1, {}), /fleettrace\.demo has no manifest any more/);
});

test('manifests are checked: sort key, admin reason, kernel features', () => {
  assert.throws(
    () =>
      defineCollector({
        ...base([]),
        table: { columns: [], sortKey: ['nope'] },
      }),
    /collector "demo": table\.sortKey: nope is not a column/,
  );
  assert.throws(() => defineCollector({ ...base([]), role: 'admin' }), /sensitiveBecause/);
  assert.throws(
    () => defineCollector({ ...base([]), requires: ['kprobes' as never] }),
    /unknown kernel feature "kprobes"/,
  );
});

test('parameters: defaults, bounds and unknown names with the field named', () => {
  const schema = z
    .strictObject({
      hz: p.integer({ min: 1, max: 1000, default: 49, doc: 'rate' }),
      states: p.names({ values: ['a', 'b'] as const, default: ['a'], doc: 'states' }),
      on: p.boolean({ default: false, doc: 'on' }),
    })
    .transform((v) => v);
  assert.deepEqual(parseParamsWith(schema, 'demo', {}, 'x'), { hz: 49, states: ['a'], on: false });
  assert.deepEqual(parseParamsWith(schema, 'demo', { hz: '7', states: 'a,b', on: 'true' }, 'x'), {
    hz: 7,
    states: ['a', 'b'],
    on: true,
  });
  const fails = (raw: Record<string, unknown>): string => {
    try {
      parseParamsWith(schema, 'demo', raw, 'c[0].params');
    } catch (err) {
      assert.ok(err instanceof ValidationError);
      return err.message;
    }
    return assert.fail('accepted');
  };
  assert.equal(fails({ hz: 0 }), 'c[0].params.hz: must be between 1 and 1000, got 0');
  assert.equal(fails({ hz: 'x' }), 'c[0].params.hz: must be an integer, got "x"');
  assert.equal(fails({ states: 'a,c' }), 'c[0].params.states[1]: must be one of a, b');
  assert.equal(fails({ rate: 1 }), 'c[0].params.rate: unknown parameter of demo');
});

test('TabSeparated values: escapes, NULL, arrays with quotes', () => {
  assert.equal(encoderOf('String')('a\tb\\c\nd'), 'a\\tb\\\\c\\nd');
  assert.equal(encoderOf('LowCardinality(String)')(undefined), '');
  assert.equal(encoderOf('Nullable(Int32)')(null), '\\N');
  assert.equal(encoderOf('Nullable(Int32)')(-3), '-3');
  assert.equal(encoderOf('UInt8')(true), '1');
  assert.equal(
    encoderOf('UInt64 CODEC(Delta, ZSTD(1))')(12345678901234567890n),
    '12345678901234567890',
  );
  assert.equal(encoderOf('Array(String)')(["it's", 'a\tb']), "['it\\'s','a\\tb']");
  assert.equal(encoderOf('Array(UInt64)')([1n, 2]), '[1,2]');
  assert.throws(() => encoderOf('Map(String, UInt8)'), /no TabSeparated encoder/);
});

test('the always-on job comes from the manifests, with parameters the schema takes', () => {
  const withParams = (alwaysOn: CollectorManifest['alwaysOn']) =>
    defineCollector({
      ...base([]),
      params: z.strictObject({ hz: p.integer({ min: 1, max: 100, default: 9, doc: 'hz' }) }),
      alwaysOn,
    });
  assert.throws(
    () => withParams({ params: { hz: 1000 }, summary: 'x' }),
    /alwaysOn\.params: must be between 1 and 100/,
  );
  assert.deepEqual(
    alwaysOnCollectors([withParams({ params: { hz: 19 }, summary: 'demo 19 Hz' }), base([])]),
    [{ name: 'demo', params: { hz: 19 }, summary: 'demo 19 Hz' }],
  );
});
