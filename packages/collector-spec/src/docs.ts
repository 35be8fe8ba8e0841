// SPDX-License-Identifier: Apache-2.0
/**
 * The generated parts of docs/schema.md and docs/kernels.md: column tables
 * and per-collector kernel rows, written between markers that
 * scripts/gen-schema.mjs owns. Prose and examples around them stay
 * hand-written. Tables are padded the way prettier pads them, so the lint's
 * format check passes on generated text.
 */
import type { CollectorManifest, TableSpec } from './manifest';

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(3, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(rows[0]!),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...rows.slice(1).map(line),
  ].join('\n');
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The table's own columns (the common ones are in "Conventions"). */
export function columnsMarkdown(spec: TableSpec): string {
  const withFor = spec.columns.some((c) => c.for);
  const head = withFor ? ['column', 'type', 'for', 'meaning'] : ['column', 'type', 'meaning'];
  const rows = spec.columns.map((c) =>
    withFor
      ? [`\`${c.name}\``, cell(c.type), cell(c.for ?? 'all'), cell(c.doc)]
      : [`\`${c.name}\``, cell(c.type), cell(c.doc)],
  );
  return pad([head, ...rows]);
}

export function kernelsMarkdown(manifests: CollectorManifest[]): string {
  return pad([
    ['collector', 'minimum kernel', 'why'],
    ...manifests.map((m) => [`\`${m.name}\``, m.minKernel.version, cell(m.minKernel.why)]),
  ]);
}

export function rolesMarkdown(manifests: CollectorManifest[]): string {
  return pad([
    ['collector', 'least role', 'what it measures'],
    ...manifests.map((m) => [
      `\`${m.name}\``,
      m.role + (m.sensitiveBecause ? ` (${cell(m.sensitiveBecause)})` : ''),
      cell(m.description),
    ]),
  ]);
}

/**
 * Replaces the text between `<!-- generated:KEY -->` and
 * `<!-- end generated:KEY -->` (adding the pair before `before` when absent).
 */
export function replaceGenerated(doc: string, key: string, body: string, before?: RegExp): string {
  const open = `<!-- generated:${key} (scripts/gen-schema.mjs; edit the manifest) -->`;
  const close = `<!-- end generated:${key} -->`;
  const block = `${open}\n\n${body}\n\n${close}`;
  const start = doc.indexOf(open);
  if (start >= 0) {
    const end = doc.indexOf(close, start);
    if (end < 0) throw new Error(`${close} is missing`);
    return doc.slice(0, start) + block + doc.slice(end + close.length);
  }
  if (!before) throw new Error(`no ${open} in the document`);
  const m = before.exec(doc);
  if (!m) throw new Error(`cannot place ${key}: ${before} not found`);
  return doc.slice(0, m.index) + block + '\n\n' + doc.slice(m.index);
}
