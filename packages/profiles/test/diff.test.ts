// SPDX-License-Identifier: Apache-2.0
/** Differential profiles: deltas per stack, normalised or not, folded in two columns, an SVG in red and blue. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { changeOf, diffProfiles, toDiffFolded } from '../src/diff';
import { toDiffSvg } from '../src/flamegraph-svg';
import type { StackProfile } from '../src/profile';
import { parseSvg, type XmlElement } from './xml';

const samples = { type: 'samples', unit: 'count' };
const BASE: StackProfile = {
  sampleType: samples,
  stacks: [
    { frames: ['main+0x1 (app)', 'parse+0x2 (app)'], value: 40 },
    { frames: ['main+0x1 (app)', 'render+0x3 (app)'], value: 50 },
    { frames: ['main+0x1 (app)', 'gone+0x3 (app)'], value: 10 },
  ],
};
const TARGET: StackProfile = {
  sampleType: samples,
  stacks: [
    { frames: ['main+0x1 (app)', 'parse+0x2 (app)'], value: 160 },
    { frames: ['main+0x1 (app)', 'render+0x3 (app)'], value: 30 },
    { frames: ['main+0x1 (app)', 'new+0x4 (app)'], value: 10 },
  ],
};

test('raw deltas: parse grew, render shrank, one stack gone and one new', () => {
  const diff = diffProfiles(BASE, TARGET);
  assert.equal(diff.normalized, false);
  assert.equal(
    toDiffFolded(diff),
    'main;gone 10 0\nmain;new 0 10\nmain;parse 40 160\nmain;render 50 30\n',
  );
  assert.deepEqual(
    diff.stacks.map((s) => s.delta),
    [-10, 10, 120, -20],
  );
  const change = Object.fromEntries(diff.stacks.map((s) => [s.frames.at(-1), changeOf(s)]));
  assert.deepEqual(change, {
    'gone+0x3 (app)': 'shrunk',
    'new+0x4 (app)': 'grown',
    'parse+0x2 (app)': 'grown',
    'render+0x3 (app)': 'shrunk',
  });
});

test('normalised: the baseline scaled to the target total, so shares are compared', () => {
  // Target total 200, base 100: base doubled; render 50 -> 100 against 30: shrank, parse 80 -> 160 unchanged.
  const diff = diffProfiles(BASE, TARGET, { normalize: true });
  assert.equal(diff.normalized, true);
  assert.equal(diff.baseTotal, 100);
  assert.equal(diff.targetTotal, 200);
  assert.equal(
    toDiffFolded(diff),
    'main;gone 20 0\nmain;new 0 10\nmain;parse 80 160\nmain;render 100 30\n',
  );
  const parse = diff.stacks.find((s) => s.frames.at(-1) === 'parse+0x2 (app)');
  assert.ok(parse && changeOf(parse) === 'grown');
  const same = diffProfiles(
    BASE,
    { ...BASE, stacks: BASE.stacks.map((s) => ({ ...s, value: s.value * 3 })) },
    { normalize: true },
  );
  assert.ok(same.stacks.every((s) => changeOf(s) === 'unchanged'));
});

test('profiles of different sample types are not compared', () => {
  assert.throws(
    () => diffProfiles(BASE, { ...TARGET, sampleType: { type: 'cpu', unit: 'nanoseconds' } }),
    /cannot compare samples \(count\) with cpu \(nanoseconds\)/,
  );
});

function frame(svg: XmlElement, name: string): { cls: string; fill: string; title: string } {
  let found: { cls: string; fill: string; title: string } | undefined;
  const walk = (e: XmlElement) => {
    if (e.name === 'g' && e.attributes['data-n'] === name) {
      const rect = e.children.find((c) => c.name === 'rect');
      const title = e.children.find((c) => c.name === 'title');
      found = {
        cls: e.attributes.class ?? '',
        fill: rect?.attributes.fill ?? '',
        title: title?.text ?? '',
      };
    }
    e.children.forEach(walk);
  };
  walk(svg);
  assert.ok(found, `no frame ${name}`);
  return found;
}

const rgb = (fill: string): [number, number, number] => {
  const m = /^rgb\((\d+),(\d+),(\d+)\)$/.exec(fill);
  assert.ok(m, fill);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
};

test('the differential SVG: the grown stack red, the shrunk one blue, widths of the target', () => {
  const svg = parseSvg(toDiffSvg(diffProfiles(BASE, TARGET)));
  const parse = frame(svg, 'parse');
  assert.match(parse.cls, /\bgrown\b/);
  const [pr, pg, pb] = rgb(parse.fill);
  assert.ok(pr === 255 && pg < 255 && pb < 255, `parse ${parse.fill} is red`);
  assert.match(parse.title, /parse: 160 samples .* base 40, \+120/);
  const render = frame(svg, 'render');
  assert.match(render.cls, /\bshrunk\b/);
  const [rr, rg, rb] = rgb(render.fill);
  assert.ok(rb === 255 && rr < 255 && rg < 255, `render ${render.fill} is blue`);
  // parse grew by 120, render shrank by 20: parse is the deeper colour.
  assert.ok(pg < rr, `${parse.fill} deeper than ${render.fill}`);
  assert.equal(svg.attributes['data-total'], '200');
});

test('the differential SVG opens in chromium: colours kept, a search shows the share of the target', (t) => {
  const found = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], {
    encoding: 'utf8',
  }).stdout.trim();
  if (!found) {
    t.skip('chromium is not installed (Debian package chromium): the SVG was checked as XML only');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ft-diff-svg-'));
  try {
    const file = join(dir, 'diff.svg');
    writeFileSync(file, toDiffSvg(diffProfiles(BASE, TARGET)));
    const r = spawnSync(
      found,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        `--user-data-dir=${join(dir, 'profile')}`,
        '--virtual-time-budget=2000',
        '--dump-dom',
        `file://${file}#search=^parse$`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /<g class="frame grown"[^>]*data-n="parse"/);
    assert.match(r.stdout, /<g class="frame shrunk"[^>]*data-n="render"/);
    // parse is 160 of the target's 200
    assert.match(r.stdout, /Matched: 80\.00% \(1 frames\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
