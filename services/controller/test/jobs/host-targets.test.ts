// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileHostGlob, sampleOf, TargetMatcher } from '../../src/jobs/host-targets.js';

describe('host targets', () => {
  test('globs match as a shell does, case-insensitively, anchored', () => {
    const m = (glob: string, host: string) => compileHostGlob(glob, 'g').test(host);
    assert.ok(m('web-*', 'web-12'));
    assert.ok(m('web-*', 'WEB-1'));
    assert.ok(!m('web-*', 'db-web-1'));
    assert.ok(m('web-?', 'web-1'));
    assert.ok(!m('web-?', 'web-12'));
    assert.ok(m('web-[0-4]', 'web-3'));
    assert.ok(!m('web-[0-4]', 'web-7'));
    assert.ok(m('web-[!0-4]', 'web-7'));
    assert.ok(m('a.b', 'a.b'));
    assert.ok(!m('a.b', 'axb'), 'a dot is literal');
  });

  test('bad globs name the field and say what is wrong', () => {
    const bad: Array<[string, RegExp]> = [
      ['web-[', /unclosed \[ at position 5/],
      ['web-[]', /empty \[\]/],
      ['web-]', /unmatched \]/],
      ['web!', /! is only allowed right after \[/],
      ['web-[9-0]', /range 9-0 is backwards/],
      ['web 1', /letters, digits/],
      ['web/1', /letters, digits/],
    ];
    for (const [glob, reason] of bad)
      assert.throws(
        () => compileHostGlob(glob, 'targets.hosts[2]'),
        (e: Error) => {
          assert.match(e.message, /^targets\.hosts\[2\]: /);
          assert.match(e.message, reason);
          return true;
        },
        glob,
      );
  });

  test('hosts and labels must both match', () => {
    const m = new TargetMatcher({ hosts: ['web-*'], labels: { role: 'web', dc: 'x' } });
    assert.ok(m.matches({ hostname: 'web-1', labels: { role: 'web', dc: 'x', extra: '1' } }));
    assert.ok(!m.matches({ hostname: 'web-1', labels: { role: 'web' } }));
    assert.ok(!m.matches({ hostname: 'db-1', labels: { role: 'web', dc: 'x' } }));
  });

  test('a sample takes round(p*n) distinct hosts, at least one', () => {
    const hosts = Array.from({ length: 100 }, (_, i) => i);
    const s = sampleOf(hosts, 0.1);
    assert.equal(s.length, 10);
    assert.equal(new Set(s).size, 10);
    assert.equal(sampleOf(hosts, 0.001).length, 1);
    assert.equal(sampleOf(hosts, 1).length, 100);
    assert.deepEqual(sampleOf([], 0.5), []);
    // Chosen afresh each time: 20 draws of 10 from 100 are not all equal.
    const draws = new Set(
      Array.from({ length: 20 }, () =>
        sampleOf(hosts, 0.1)
          .sort((a, b) => a - b)
          .join(','),
      ),
    );
    assert.ok(draws.size > 1);
  });
});
