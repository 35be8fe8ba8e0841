// SPDX-License-Identifier: Apache-2.0
/**
 * Every output format of one known profile, read back by the tools that
 * define the format: folded text exactly, pprof by `go tool pprof -raw` and
 * by the pprof-format decoder, speedscope JSON against speedscope's own
 * schema (shipped in the speedscope package), the SVG as XML and, when
 * chromium is installed, rendered by it with its script run.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Ajv } from 'ajv';
import { Profile as PprofFormatProfile } from 'pprof-format';
import { parseFrame } from '../src/frames';
import { toFolded } from '../src/folded';
import { toPprof } from '../src/pprof';
import { speedscopeDocument, toSpeedscope } from '../src/speedscope';
import { toSvg } from '../src/flamegraph-svg';
import { foldedTotals, SYNTHETIC, SYNTHETIC_FOLDED } from './synthetic-profile';
import { parseSvg, type XmlElement } from './xml';

const dir = mkdtempSync(join(tmpdir(), 'ft-profiles-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function which(...candidates: string[]): string | undefined {
  for (const c of candidates) {
    if (c.startsWith('/') && existsSync(c)) return c;
    if (!c.startsWith('/')) {
      const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' });
      if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
    }
  }
  return undefined;
}

test('frame strings: resolved, unresolved, markers', () => {
  assert.deepEqual(parseFrame('do_sys_open+0x1a (kernel)'), {
    function: 'do_sys_open',
    offset: 0x1a,
    module: 'kernel',
    resolved: true,
  });
  assert.deepEqual(parseFrame('std::vector<int>::push_back(int const&)+0x40 (libapp.so)'), {
    function: 'std::vector<int>::push_back(int const&)',
    offset: 0x40,
    module: 'libapp.so',
    resolved: true,
  });
  assert.deepEqual(parseFrame('libc.so.6+0x2724a'), {
    function: 'libc.so.6+0x2724a',
    offset: 0x2724a,
    module: 'libc.so.6',
    resolved: false,
  });
  assert.deepEqual(parseFrame('[lost stack]'), {
    function: '[lost stack]',
    module: '',
    resolved: false,
  });
});

test('folded: the expected text exactly, the same for any order of the input', () => {
  assert.equal(toFolded(SYNTHETIC), SYNTHETIC_FOLDED);
  const shuffled = { ...SYNTHETIC, stacks: [...SYNTHETIC.stacks].reverse() };
  assert.equal(toFolded(shuffled), SYNTHETIC_FOLDED);
});

test('pprof: go tool pprof -raw reads it, with the folded per-stack totals', (t) => {
  const go = which('/usr/local/go/bin/go', '/usr/bin/go', 'go');
  if (!go) {
    t.skip('go is not installed: cannot run go tool pprof');
    return;
  }
  const file = join(dir, 'synthetic.pb.gz');
  writeFileSync(file, toPprof(SYNTHETIC, { comments: ['a test profile'] }));
  const raw = execFileSync(go, ['tool', 'pprof', '-raw', file], {
    encoding: 'utf8',
    env: { ...process.env, PPROF_TMPDIR: dir },
  });
  assert.match(raw, /^samples\/count(\[dflt\])?$/m, raw);
  // Locations: "     1: 0x0 M=1 compute app:0:0 s=0" (the function may come on the next line)
  const names = new Map<string, string>();
  const locations = raw.slice(raw.indexOf('Locations'), raw.indexOf('Mappings'));
  for (const m of locations.matchAll(/^\s+(\d+): 0x[0-9a-f]+ (?:M=\d+ )?(\S+) /gm))
    names.set(m[1] as string, m[2] as string);
  const samples = raw.slice(raw.indexOf('samples/count'), raw.indexOf('Locations'));
  const totals = new Map<string, number>();
  for (const m of samples.matchAll(/^\s+(\d+): ((?:\d+ )+)/gm)) {
    const stack = (m[2] as string)
      .trim()
      .split(' ')
      .map((id) => (names.get(id) ?? `?${id}`).replace(/;/g, ':'))
      .reverse()
      .join(';');
    totals.set(stack, (totals.get(stack) ?? 0) + Number(m[1]));
  }
  assert.deepEqual(
    Object.fromEntries(totals),
    Object.fromEntries(foldedTotals(SYNTHETIC_FOLDED)),
    raw,
  );
  const comments = execFileSync(go, ['tool', 'pprof', '-comments', file], {
    encoding: 'utf8',
    env: { ...process.env, PPROF_TMPDIR: dir },
  });
  assert.match(comments, /a test profile/);
});

test('pprof: the pprof-format decoder reads it: types, tables, per-stack totals', () => {
  const p = PprofFormatProfile.decode(gunzipSync(toPprof(SYNTHETIC)));
  const s = (i: number | bigint) => p.stringTable.strings[Number(i)] as string;
  assert.deepEqual(
    p.sampleType.map((v) => [s(v.type), s(v.unit)]),
    [['samples', 'count']],
  );
  const fnById = new Map(p.function.map((f) => [Number(f.id), f]));
  const locById = new Map(p.location.map((l) => [Number(l.id), l]));
  const mappingById = new Map(p.mapping.map((m) => [Number(m.id), s(m.filename)]));
  assert.deepEqual([...mappingById.values()].sort(), ['app', 'kernel', 'libc.so.6']);
  // compute and work have two call sites each (two locations) but one function each.
  assert.equal(p.function.filter((f) => s(f.name) === 'compute').length, 1);
  assert.equal(p.location.length, 10);
  const totals = new Map<string, number>();
  for (const sample of p.sample) {
    const stack = sample.locationId
      .map((id) => {
        const loc = locById.get(Number(id));
        assert.ok(loc, `location ${id}`);
        const fn = fnById.get(Number(loc.line[0]?.functionId));
        assert.ok(fn);
        // Every location's mapping is its function's module.
        if (Number(loc.mappingId))
          assert.equal(mappingById.get(Number(loc.mappingId)), s(fn.filename));
        return s(fn.name).replace(/;/g, ':');
      })
      .reverse()
      .join(';');
    totals.set(stack, (totals.get(stack) ?? 0) + Number(sample.value[0]));
  }
  assert.deepEqual(Object.fromEntries(totals), Object.fromEntries(foldedTotals(SYNTHETIC_FOLDED)));
});

test("speedscope: valid against speedscope's schema, a sampled profile with the folded totals", () => {
  const schemaFile = require.resolve('speedscope/dist/release/file-format-schema.json');
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as object;
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  const doc = JSON.parse(toSpeedscope(SYNTHETIC)) as ReturnType<typeof speedscopeDocument>;
  assert.ok(validate(doc), ajv.errorsText(validate.errors));
  assert.equal(doc.$schema, 'https://www.speedscope.app/file-format-schema.json');
  const profile = doc.profiles[0];
  assert.ok(profile);
  assert.equal(profile.type, 'sampled');
  assert.equal(profile.unit, 'none');
  assert.equal(profile.endValue, 100);
  const totals = new Map<string, number>();
  profile.samples.forEach((stack, i) => {
    const key = stack.map((f) => (doc.shared.frames[f]?.name ?? '?').replace(/;/g, ':')).join(';');
    totals.set(key, (totals.get(key) ?? 0) + (profile.weights[i] as number));
  });
  assert.deepEqual(Object.fromEntries(totals), Object.fromEntries(foldedTotals(SYNTHETIC_FOLDED)));
  // A time unit speedscope knows is kept.
  const ns = speedscopeDocument({ ...SYNTHETIC, sampleType: { type: 'cpu', unit: 'nanoseconds' } });
  assert.equal(ns.profiles[0]?.unit, 'nanoseconds');
  assert.ok(validate(ns));
});

/** The frames of a parsed flame graph: name, depth, value, rect. */
function framesOf(svg: XmlElement): Array<{
  name: string;
  depth: number;
  value: number;
  x: number;
  width: number;
  title: string;
  cls: string;
  fill: string;
}> {
  const out: ReturnType<typeof framesOf> = [];
  const walk = (e: XmlElement) => {
    if (e.name === 'g' && (e.attributes.class ?? '').split(' ').includes('frame')) {
      const rect = e.children.find((c) => c.name === 'rect');
      const title = e.children.find((c) => c.name === 'title');
      assert.ok(rect && title);
      out.push({
        name: e.attributes['data-n'] as string,
        depth: Number(e.attributes['data-d']),
        value: Number(e.attributes['data-w']),
        x: Number(rect.attributes.x),
        width: Number(rect.attributes.width),
        title: title.text,
        cls: e.attributes.class as string,
        fill: rect.attributes.fill as string,
      });
    }
    e.children.forEach(walk);
  };
  walk(svg);
  return out;
}

test('svg: well-formed, self-contained, one box per merged frame with its tooltip', () => {
  const text = toSvg(SYNTHETIC);
  const svg = parseSvg(text);
  assert.equal(svg.name, 'svg');
  assert.equal(svg.attributes.xmlns, 'http://www.w3.org/2000/svg');
  // No external reference: no href, no url() other than none, no http(s) but the namespace.
  assert.doesNotMatch(text.replace('http://www.w3.org/2000/svg', ''), /https?:|href=|@import/);
  const frames = framesOf(svg);
  const byName = (n: string) => frames.filter((f) => f.name === n);
  assert.deepEqual(
    frames.map((f) => `${f.depth}:${f.name}:${f.value}`).sort(),
    [
      '0:all:100',
      '1:libc.so.6+0x2724a:5',
      '1:main:95',
      '2:main:5',
      '2:read:25',
      '2:work:70',
      '3:compute:70',
      '3:entry_SYSCALL_64:25',
      '3:idle:odd:5',
      '4:vfs_read:25',
    ].sort(),
  );
  const all = byName('all')[0];
  assert.ok(all);
  const work = byName('work')[0];
  assert.ok(work);
  // Widths in proportion to the values, children inside their parent.
  assert.ok(Math.abs(work.width / all.width - 0.7) < 0.001, `${work.width} / ${all.width}`);
  const compute = byName('compute')[0];
  assert.ok(
    compute && compute.x >= work.x && compute.x + compute.width <= work.x + work.width + 0.01,
  );
  assert.match(work.title, /^work: 70 samples \(70\.00%\)/);
  // The viewer is inline.
  const script = svg.children.find((c) => c.name === 'script');
  assert.ok(script && /function zoom/.test(script.text) && /function search/.test(script.text));
});

test('svg: chromium renders it, runs its script, and a search shows the matched share', (t) => {
  const chromium = which('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable');
  if (!chromium) {
    t.skip('chromium is not installed (Debian package chromium): the SVG was checked as XML only');
    return;
  }
  const file = join(dir, 'synthetic.svg');
  writeFileSync(file, toSvg(SYNTHETIC));
  const r = spawnSync(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      `--user-data-dir=${join(dir, 'chromium-profile')}`,
      '--virtual-time-budget=2000',
      '--dump-dom',
      `file://${file}#search=${encodeURIComponent('^(compute|read)$')}`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const dom = r.stdout;
  for (const name of ['main', 'work', 'compute', 'vfs_read', 'entry_SYSCALL_64'])
    assert.match(dom, new RegExp(`data-n="${name}"`), `${name} in the rendered DOM`);
  // The script ran: compute (70) and read (25) matched, 95% of the total.
  assert.match(dom, /Matched: 95\.00% \(2 frames\)/);
  // Zoomed to work from the link: its subtree fills the width, frames beside it are hidden.
  const zoomed = spawnSync(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      `--user-data-dir=${join(dir, 'chromium-profile')}`,
      '--virtual-time-budget=2000',
      '--dump-dom',
      `file://${file}#zoom=work`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(zoomed.status, 0, zoomed.stderr);
  const svg = parseSvg(zoomed.stdout.slice(zoomed.stdout.indexOf('<svg')));
  const shown = framesOf(svg);
  const classOf = (name: string, depth?: number) =>
    shown.find((f) => f.name === name && (depth === undefined || f.depth === depth))?.cls ?? '';
  assert.equal(shown.find((f) => f.name === 'compute')?.width, 1180, 'compute fills the width');
  assert.match(classOf('read'), /hidden/);
  assert.match(classOf('main', 1), /dim/, 'an ancestor stays, dimmed');
  assert.match(classOf('main', 2), /hidden/, 'main under libc is beside work');
  assert.doesNotMatch(classOf('compute'), /hidden/);
  assert.match(zoomed.stdout, /id="reset" class="button"/);
});
