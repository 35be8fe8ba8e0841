// SPDX-License-Identifier: Apache-2.0
/**
 * The built web UI works offline and under `default-src 'self'`: no file in
 * apps/web/dist names another host (no CDN, no font or script from
 * elsewhere), none is inlined as a data: URL, and index.html loads only
 * hashed files of its own assets/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, test } from 'node:test';
import { assertBuilt, WEB_DIST } from './web-ui-dir';

/**
 * XML namespace names that Preact's renderer compares element namespaces
 * with: identifiers, never fetched (https://www.w3.org/TR/xml-names/#iri-use).
 */
const NAMESPACES = new Set([
  'http://www.w3.org/2000/svg',
  'http://www.w3.org/1999/xhtml',
  'http://www.w3.org/1998/Math/MathML',
  'http://www.w3.org/1999/xlink',
  'http://www.w3.org/XML/1998/namespace',
]);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('built web UI', () => {
  before(assertBuilt);

  test('names no other host: no http:// or https:// URL but XML namespace names', () => {
    const found: string[] = [];
    const all = files(WEB_DIST);
    assert.ok(all.length >= 3, `only ${all.length} files in ${WEB_DIST}`);
    for (const file of all) {
      const text = readFileSync(file, 'latin1');
      for (const m of text.matchAll(/https?:\/\/[^\s"'`()<>\\]*/gi))
        if (!NAMESPACES.has(m[0])) found.push(`${relative(WEB_DIST, file)}: ${m[0]}`);
      // A protocol-relative reference (//cdn.example/x.js) names a host too.
      for (const m of text.matchAll(/(?:src|href)\s*=\s*["']\/\/[^"']+/gi))
        found.push(`${relative(WEB_DIST, file)}: ${m[0]}`);
      if (/url\(\s*["']?data:/i.test(text) || /(?:src|href)=["']data:/i.test(text))
        found.push(`${relative(WEB_DIST, file)}: a data: URL (the CSP refuses it)`);
    }
    assert.deepEqual(found, []);
  });

  test('index.html loads only its own hashed assets, with no inline script or style', () => {
    const html = readFileSync(join(WEB_DIST, 'index.html'), 'utf8');
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    assert.ok(refs.some((r) => r.endsWith('.js')) && refs.some((r) => r.endsWith('.css')), html);
    for (const ref of refs) {
      assert.match(ref, /^\/assets\/[\w.-]+-[\w-]{8}\.(js|css)$/, ref);
      assert.ok(statSync(join(WEB_DIST, ref)).isFile(), ref);
    }
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'an inline script');
    assert.doesNotMatch(html, /<style|\sstyle=/, 'an inline style');
  });
});
