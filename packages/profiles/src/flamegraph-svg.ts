// SPDX-License-Identifier: Apache-2.0
/**
 * A flame graph as one self-contained SVG file: frames as boxes (root at the
 * bottom, callees above, width = value), each with a <title> tooltip, and an
 * inline script for what a reader does with it: click a frame to zoom to it,
 * "Reset zoom", "Search" (a regular expression: matches turn magenta and the
 * matched share of the total is shown), "Clear". A link can carry a view:
 * `#zoom=<function>&search=<regex>`. No external reference: it opens offline in a browser.
 *
 * Frames are merged by function name (folded.ts), siblings in name order,
 * so one profile always gives the same file. Boxes narrower than
 * `minWidthPx` are left out (their value stays in their parent's width).
 *
 * A differential profile (diff.ts) is drawn with the target's widths and
 * coloured by the change of each frame's total (target − base, the baseline
 * normalised or not as the diff was made): red where it grew, blue where it
 * shrank, deeper the larger the change; stacks gone from the target have no
 * width and are only in the folded diff.
 */
import { foldedName } from './folded';
import { isKernelFrame } from './frames';
import type { DiffProfile } from './diff';
import { canonicalProfile, compareText, type SampleType, type StackProfile } from './profile';

export interface SvgOptions {
  title?: string;
  /** image width in pixels (default 1200) */
  width?: number;
  /** boxes narrower than this are left out (default 0.1) */
  minWidthPx?: number;
}

interface Node {
  name: string;
  kernel: boolean;
  total: number;
  self: number;
  baseTotal: number;
  children: Map<string, Node>;
}

const newNode = (name: string, kernel: boolean): Node => ({
  name,
  kernel,
  total: 0,
  self: 0,
  baseTotal: 0,
  children: new Map(),
});

function buildTree(stacks: Array<{ frames: string[]; value: number; base: number }>): Node {
  const root = newNode('all', false);
  for (const s of stacks) {
    let node = root;
    node.total += s.value;
    node.baseTotal += s.base;
    for (const text of s.frames) {
      const name = foldedName(text);
      let child = node.children.get(name);
      if (!child) {
        child = newNode(name, isKernelFrame(text));
        node.children.set(name, child);
      }
      child.total += s.value;
      child.baseTotal += s.base;
      node = child;
    }
    node.self += s.value;
  }
  return root;
}

function escapeXml(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- characters XML 1.0 cannot carry
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '?')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;')
  );
}

/** A stable hash of a name in [0, 1), so a function keeps its colour across graphs. */
function hash(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return (h >>> 0) / 4294967296;
}

/** flamegraph.pl's "hot" palette for user code, a yellow-orange one for the kernel. */
function warmColour(node: Node): string {
  const v = hash(node.name);
  const w = hash(`${node.name}#`);
  if (node.kernel)
    return `rgb(${220 + Math.round(35 * v)},${150 + Math.round(60 * w)},${Math.round(40 * v)})`;
  return `rgb(${205 + Math.round(50 * v)},${Math.round(230 * w)},${Math.round(55 * v)})`;
}

function diffColour(delta: number, maxDelta: number): string {
  if (delta === 0 || maxDelta === 0) return 'rgb(250,250,250)';
  // Square root: small changes stay visible beside a large one.
  const fade = Math.round(230 * (1 - Math.sqrt(Math.min(1, Math.abs(delta) / maxDelta))));
  return delta > 0 ? `rgb(255,${fade},${fade})` : `rgb(${fade},${fade},255)`;
}

function formatValue(value: number, type: SampleType): string {
  const n = value.toLocaleString('en-US');
  return type.unit === 'count' ? `${n} ${type.type}` : `${n} ${type.unit}`;
}

const FRAME_HEIGHT = 16;
const FONT_SIZE = 12;
const CHAR_WIDTH = FONT_SIZE * 0.59;
const PAD = 10;
const HEADER = 44;
const FOOTER = 24;

/** The text that fits a box `width` pixels wide, as the script also computes it on zoom. */
function fitText(name: string, width: number): string {
  const chars = Math.floor((width - 6) / CHAR_WIDTH);
  if (chars < 3) return '';
  return name.length <= chars ? name : `${name.slice(0, chars - 2)}..`;
}

interface Drawn {
  node: Node;
  depth: number;
  /** start, in value units from the left */
  x: number;
}

function render(
  root: Node,
  sampleType: SampleType,
  title: string,
  subtitle: string,
  options: SvgOptions,
  diff: boolean,
): string {
  const width = options.width ?? 1200;
  const minWidthPx = options.minWidthPx ?? 0.1;
  const usable = width - 2 * PAD;
  const total = root.total;
  const perUnit = total > 0 ? usable / total : 0;
  const drawn: Drawn[] = [];
  let elided = 0;
  let maxDepth = 0;
  let maxDelta = 0;
  const walk = (node: Node, depth: number, x: number) => {
    if (node.total * perUnit < minWidthPx) {
      elided++;
      return;
    }
    drawn.push({ node, depth, x });
    maxDepth = Math.max(maxDepth, depth);
    // The root holds every change: scaled by it, every other frame would look pale.
    if (depth > 0) maxDelta = Math.max(maxDelta, Math.abs(node.total - node.baseTotal));
    let cx = x;
    for (const child of [...node.children.values()].sort((a, b) => compareText(a.name, b.name))) {
      walk(child, depth + 1, cx);
      cx += child.total;
    }
  };
  if (total > 0) walk(root, 0, 0);
  const height = HEADER + (maxDepth + 1) * FRAME_HEIGHT + FOOTER;
  const base = height - FOOTER;
  const pct = (v: number) => (total > 0 ? ((100 * v) / total).toFixed(2) : '0.00');

  const frames = drawn.map(({ node, depth, x }) => {
    const px = PAD + x * perUnit;
    const w = node.total * perUnit;
    const y = base - (depth + 1) * FRAME_HEIGHT;
    const delta = node.total - node.baseTotal;
    const fill = diff ? diffColour(delta, maxDelta) : warmColour(node);
    const change = diff ? (delta > 0 ? ' grown' : delta < 0 ? ' shrunk' : '') : '';
    const tip = diff
      ? `${node.name}: ${formatValue(node.total, sampleType)} (${pct(node.total)}%), base ${node.baseTotal.toLocaleString('en-US')}, ${delta >= 0 ? '+' : ''}${delta.toLocaleString('en-US')}`
      : `${node.name}: ${formatValue(node.total, sampleType)} (${pct(node.total)}%), self ${node.self.toLocaleString('en-US')}`;
    return (
      `<g class="frame${change}" data-x="${x}" data-w="${node.total}" data-d="${depth}" data-n="${escapeXml(node.name)}">` +
      `<title>${escapeXml(tip)}</title>` +
      `<rect x="${px.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${FRAME_HEIGHT - 1}" rx="2" fill="${fill}"/>` +
      `<text x="${(px + 3).toFixed(2)}" y="${y + FRAME_HEIGHT - 4}">${escapeXml(fitText(node.name, w))}</text>` +
      `</g>`
    );
  });
  const script = SCRIPT.replace(
    '__CONFIG__',
    JSON.stringify({ pad: PAD, usable, total, charWidth: CHAR_WIDTH }),
  );
  return [
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-total="${total}" data-unit="${escapeXml(sampleType.unit)}">`,
    '<style>text{font-family:Verdana,sans-serif;font-size:12px;fill:#000}' +
      '.frame text{pointer-events:none}.frame rect{stroke:#fff;stroke-width:0.5}.frame:hover rect{stroke:#000}' +
      '.button{cursor:pointer;fill:#06c}.button:hover{text-decoration:underline}' +
      '.hidden{display:none}.dim rect{opacity:0.55}</style>',
    `<rect x="0" y="0" width="${width}" height="${height}" fill="${diff ? '#fff' : '#fdf6e3'}"/>`,
    `<text id="title" x="${width / 2}" y="18" text-anchor="middle" style="font-size:16px">${escapeXml(title)}</text>`,
    `<text id="subtitle" x="${width / 2}" y="36" text-anchor="middle" style="fill:#555">${escapeXml(subtitle)}${elided ? escapeXml(` (${elided} frames too narrow to draw)`) : ''}</text>`,
    `<text id="reset" class="button hidden" x="${PAD}" y="18">Reset zoom</text>`,
    `<text id="search" class="button" x="${width - PAD - 100}" y="18">Search</text>`,
    `<text id="clear" class="button hidden" x="${width - PAD}" y="18" text-anchor="end">Clear</text>`,
    `<text id="details" x="${PAD}" y="${height - 7}"> </text>`,
    `<text id="matched" x="${width - PAD}" y="${height - 7}" text-anchor="end"> </text>`,
    `<g id="frames">`,
    ...frames,
    '</g>',
    `<script type="text/ecmascript"><![CDATA[${script}]]></script>`,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * The viewer, run by the browser. Plain ES5 and DOM calls every browser
 * has in SVG documents; frames carry their position in value units
 * (data-x, data-w) and depth (data-d), so zooming is arithmetic on those.
 */
const SCRIPT = `
(function () {
  'use strict';
  var cfg = __CONFIG__;
  var doc = document;
  var byId = function (id) { return doc.getElementById(id); };
  var frames = [].slice.call(doc.querySelectorAll('g.frame')).map(function (g) {
    var rect = g.getElementsByTagName('rect')[0];
    return {
      g: g, rect: rect, text: g.getElementsByTagName('text')[0],
      x: +g.getAttribute('data-x'), w: +g.getAttribute('data-w'), d: +g.getAttribute('data-d'),
      n: g.getAttribute('data-n'), fill: rect.getAttribute('fill')
    };
  });
  function fit(name, width) {
    var chars = Math.floor((width - 6) / cfg.charWidth);
    if (chars < 3) return '';
    return name.length <= chars ? name : name.slice(0, chars - 2) + '..';
  }
  function place(f, lo, span) {
    var px = cfg.pad + ((Math.max(f.x, lo) - lo) / span) * cfg.usable;
    var w = (Math.min(f.w, span) / span) * cfg.usable;
    f.rect.setAttribute('x', px.toFixed(2));
    f.rect.setAttribute('width', w.toFixed(2));
    f.text.setAttribute('x', (px + 3).toFixed(2));
    f.text.textContent = fit(f.n, w);
  }
  function show(f, visible, dim) {
    f.g.classList.toggle('hidden', !visible);
    f.g.classList.toggle('dim', !!dim);
  }
  function zoom(target) {
    var lo = target.x, hi = target.x + target.w;
    frames.forEach(function (f) {
      if (f.d < target.d) {
        var ancestor = f.x <= lo && f.x + f.w >= hi;
        show(f, ancestor, true);
        if (ancestor) place(f, f.x, f.w);
      } else if (f.x >= lo && f.x + f.w <= hi) {
        show(f, true, false);
        place(f, lo, target.w);
      } else show(f, false, false);
    });
    byId('reset').classList.remove('hidden');
  }
  function reset() {
    frames.forEach(function (f) { show(f, true, false); place(f, 0, cfg.total); });
    byId('reset').classList.add('hidden');
  }
  function search(pattern) {
    var re;
    try { re = new RegExp(pattern); } catch (e) { byId('matched').textContent = 'bad pattern: ' + e.message; return; }
    var spans = [];
    frames.forEach(function (f) {
      var hit = re.test(f.n);
      f.rect.setAttribute('fill', hit ? 'rgb(230,0,230)' : f.fill);
      if (hit) spans.push([f.x, f.x + f.w]);
    });
    // A match inside a match is counted once: the union of the matched ranges.
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var covered = 0, end = -1;
    spans.forEach(function (s) {
      if (s[0] >= end) { covered += s[1] - s[0]; end = s[1]; }
      else if (s[1] > end) { covered += s[1] - end; end = s[1]; }
    });
    var share = cfg.total > 0 ? (100 * covered) / cfg.total : 0;
    byId('matched').textContent = 'Matched: ' + share.toFixed(2) + '% (' + spans.length + ' frames)';
    byId('clear').classList.remove('hidden');
  }
  function clear() {
    frames.forEach(function (f) { f.rect.setAttribute('fill', f.fill); });
    byId('matched').textContent = ' ';
    byId('clear').classList.add('hidden');
  }
  frames.forEach(function (f) {
    f.g.addEventListener('click', function () { zoom(f); });
    f.g.addEventListener('mouseover', function () {
      byId('details').textContent = f.g.getElementsByTagName('title')[0].textContent;
    });
    f.g.addEventListener('mouseout', function () { byId('details').textContent = ' '; });
  });
  byId('reset').addEventListener('click', reset);
  byId('clear').addEventListener('click', clear);
  byId('search').addEventListener('click', function () {
    var pattern = window.prompt('Search frames (regular expression)', '');
    if (pattern) search(pattern);
  });
  doc.addEventListener('keydown', function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === 'f') {
      e.preventDefault();
      var pattern = window.prompt('Search frames (regular expression)', '');
      if (pattern) search(pattern);
    } else if (e.key === 'Escape') { reset(); clear(); }
  });
  // A link can carry a view: #zoom=<function>&search=<regex> (zoom to the widest frame of that name).
  window.location.hash.slice(1).split('&').forEach(function (part) {
    var eq = part.indexOf('=');
    var key = part.slice(0, eq), value = decodeURIComponent(part.slice(eq + 1));
    if (key === 'search' && value) search(value);
    if (key === 'zoom') {
      var widest = null;
      frames.forEach(function (f) { if (f.n === value && (!widest || f.w > widest.w)) widest = f; });
      if (widest) zoom(widest);
    }
  });
})();
`;

function titleOf(type: SampleType, name: string | undefined, fallback: string): string {
  return name ?? `${fallback}: ${type.type} (${type.unit})`;
}

export function toSvg(profile: StackProfile, options: SvgOptions = {}): string {
  const canonical = canonicalProfile(profile);
  const root = buildTree(canonical.stacks.map((s) => ({ ...s, base: s.value })));
  const { type, unit } = canonical.sampleType;
  return render(
    root,
    canonical.sampleType,
    options.title ?? titleOf(canonical.sampleType, profile.name, 'Flame graph'),
    `${formatValue(root.total, canonical.sampleType)} in total; ${type} in ${unit}; click a frame to zoom`,
    options,
    false,
  );
}

export function toDiffSvg(diff: DiffProfile, options: SvgOptions = {}): string {
  const root = buildTree(
    diff.stacks.map((s) => ({ frames: s.frames, value: s.target, base: s.base })),
  );
  const how = diff.normalized ? 'baseline scaled to the target total' : 'not normalised';
  return render(
    root,
    diff.sampleType,
    options.title ?? titleOf(diff.sampleType, diff.name, 'Differential flame graph'),
    `widths: target (${diff.targetTotal.toLocaleString('en-US')}); red grew, blue shrank against the base (${diff.baseTotal.toLocaleString('en-US')}, ${how})`,
    options,
    true,
  );
}
