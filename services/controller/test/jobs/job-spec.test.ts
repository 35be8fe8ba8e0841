// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ValidationError } from '@fleettrace/common';
import { parseJobSpec } from '../../src/jobs/job-spec.js';

const GOOD = { targets: { hosts: ['web-*'] }, collectors: [{ name: 'syscalls' }] };

function fieldOf(spec: unknown, opts = {}): string {
  try {
    parseJobSpec(spec, opts);
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.field;
  }
  assert.fail('spec was accepted');
}

describe('job spec', () => {
  test('defaults: 30 s, 1 s interval, 1% budget; parameters become strings for the wire', () => {
    const s = parseJobSpec({ ...GOOD, collectors: [{ name: 'cpu_profile', params: { hz: 99 } }] });
    assert.equal(s.duration_ms, 30_000);
    assert.equal(s.interval_ms, 1_000);
    assert.deepEqual(s.limits, { overhead_budget: 0.01, max_events_per_second: 0 });
    assert.deepEqual(s.collectors, [{ name: 'cpu_profile', params: { hz: '99' } }]);
    assert.deepEqual(s.filters, {});
  });

  test('every bad field is named', () => {
    const cases: Array<[unknown, string]> = [
      [{ ...GOOD, collectors: [{ name: 'syscalls' }, { name: 'syscalls' }] }, 'collectors[1].name'],
      [{ ...GOOD, collectors: [{ name: 'syscalls', param: {} }] }, 'collectors[0].param'],
      [
        { ...GOOD, collectors: [{ name: 'syscalls', params: { max_entries: [1] } }] },
        'collectors[0].params.max_entries',
      ],
      [
        { ...GOOD, collectors: [{ name: 'offcpu', params: { states: 'sleepy' } }] },
        'collectors[0].params.states[0]',
      ],
      [{ ...GOOD, duration: 30 }, 'duration'],
      [{ ...GOOD, duration: '8d' }, 'duration'],
      [{ ...GOOD, duration: '2s', interval: '5s' }, 'interval'],
      [{ ...GOOD, targets: { hosts: 'web-*' } }, 'targets.hosts'],
      [{ ...GOOD, targets: { hosts: [''] } }, 'targets.hosts[0]'],
      [{ ...GOOD, targets: { labels: { role: 'web server' } } }, 'targets.labels.role'],
      [{ ...GOOD, targets: { hosts: ['*'], sample: 0 } }, 'targets.sample'],
      [{ ...GOOD, targets: { hosts: ['*'], region: 'eu' } }, 'targets.region'],
      [{ ...GOOD, filters: { pid: 0 } }, 'filters.pid'],
      [{ ...GOOD, filters: { cgroup: 'relative/path' } }, 'filters.cgroup'],
      [{ ...GOOD, filters: { cgroup: '/a/../b' } }, 'filters.cgroup'],
      [{ ...GOOD, limits: { max_events_per_second: 1.5 } }, 'limits.max_events_per_second'],
      [{ ...GOOD, limits: { cpu: 1 } }, 'limits.cpu'],
      [{ collectors: GOOD.collectors }, 'targets'],
      [null, 'body'],
    ];
    for (const [spec, field] of cases) assert.equal(fieldOf(spec), field, JSON.stringify(spec));
  });

  test('a cgroup path is only checked for form: it is resolved on each host', () => {
    const s = parseJobSpec({ ...GOOD, filters: { cgroup: '/no/such/cgroup/on/the/controller' } });
    assert.equal(s.filters.cgroup, '/no/such/cgroup/on/the/controller');
  });

  test('schedule templates take no duration', () => {
    assert.equal(fieldOf({ ...GOOD, duration: '10s' }, { template: true }), 'duration');
    assert.equal(parseJobSpec(GOOD, { template: true }).duration_ms, 0);
  });
});
