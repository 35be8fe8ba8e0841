// SPDX-License-Identifier: Apache-2.0
/**
 * The web UI's static files, served at / beside the API. The directory is
 * the controller's `uiDir` option (`fleettrace up` gives it the built
 * @fleettrace/web; the controller knows nothing of that package). Its files
 * are read once at start and served from memory: a request can only reach a
 * file that was in the directory then (a map lookup, never a path joined
 * from the URL), so no `..` or symlink trick leaves it.
 *
 * The pages hold no data and need no token; every data call they make goes
 * to /api/v1 with the user's token. They run under a Content-Security-Policy
 * of `default-src 'self'`: no script, style, font or connection to any other
 * origin, no inline script.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { ValidationError } from '@fleettrace/common';

/** What the UI's pages may load: their own origin only, and never be framed. */
export const UI_CONTENT_SECURITY_POLICY =
  "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'";

/**
 * Vite puts every built script, style and asset under assets/ with a hash of
 * its content in the name: such a file never changes, so a browser may keep
 * it for a year. Everything else (index.html) is revalidated on each load.
 */
const HASHED_DIR = '/assets/';
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/** A bundle is a few hundred kilobytes; these bound what a wrong --ui-dir can make us hold. */
const MAX_FILES = 2_000;
const MAX_BYTES = 64 * 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Paths of the API and the operational routes: never a UI file, whatever the directory holds. */
const NOT_UI = /^\/(api|metrics|healthz|readyz)(\/|$)/;

interface UiFile {
  body: Buffer;
  contentType: string;
  etag: string;
  cacheControl: string;
}

export interface StaticUi {
  dir: string;
  /** by URL path: /index.html, /assets/index-3f2a9c1b.js */
  files: ReadonlyMap<string, UiFile>;
}

/**
 * `dir` as a UI directory: it exists and holds index.html, or a
 * ValidationError naming `field`. Returns the absolute path.
 */
export function checkUiDir(field: string, dir: string): string {
  const abs = resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    throw new ValidationError(field, `${abs} does not exist (build the UI: pnpm build)`);
  }
  if (!isDir) throw new ValidationError(field, `${abs} is not a directory`);
  let hasIndex = false;
  try {
    hasIndex = statSync(join(abs, 'index.html')).isFile();
  } catch {
    // reported below
  }
  if (!hasIndex)
    throw new ValidationError(field, `${abs} holds no index.html: not a built web UI directory`);
  return abs;
}

/** Reads the UI directory (checked by checkUiDir) into memory. */
export function loadStaticUi(field: string, dir: string): StaticUi {
  const files = new Map<string, UiFile>();
  let bytes = 0;
  const walk = (abs: string, url: string): void => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      // Dot files (an editor's backup, .DS_Store) are no part of a build.
      if (entry.name.startsWith('.')) continue;
      const path = join(abs, entry.name);
      const urlPath = `${url}/${entry.name}`;
      if (entry.isDirectory()) {
        walk(path, urlPath);
        continue;
      }
      if (!entry.isFile()) continue;
      if (files.size >= MAX_FILES)
        throw new ValidationError(field, `${dir} holds more than ${MAX_FILES} files`);
      const body = readFileSync(path);
      bytes += body.length;
      if (bytes > MAX_BYTES)
        throw new ValidationError(field, `${dir} holds more than ${MAX_BYTES >> 20} MiB`);
      files.set(urlPath, {
        body,
        contentType: CONTENT_TYPES[extname(entry.name).toLowerCase()] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        cacheControl: urlPath.startsWith(HASHED_DIR) ? IMMUTABLE : REVALIDATE,
      });
    }
  };
  walk(dir, '');
  return { dir, files };
}

interface RequestLike {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}
interface ResponseLike {
  statusCode: number;
  setHeader(name: string, value: string | number): void;
  end(body?: Buffer): void;
}

/**
 * Express middleware: GET and HEAD of a UI file (/ is index.html) are
 * answered here; anything else goes on to the API's routes, so an unknown
 * path, a missing asset included, is the API's JSON 404.
 */
export function staticUiMiddleware(ui: StaticUi) {
  return (req: RequestLike, res: ResponseLike, next: () => void): void => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || NOT_UI.test(req.path)) return next();
    const file = ui.files.get(req.path === '/' ? '/index.html' : req.path);
    if (!file) return next();
    res.setHeader('Content-Security-Policy', UI_CONTENT_SECURITY_POLICY);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', file.cacheControl);
    res.setHeader('ETag', file.etag);
    if (req.headers['if-none-match'] === file.etag) {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.setHeader('Content-Type', file.contentType);
    res.setHeader('Content-Length', file.body.length);
    res.statusCode = 200;
    res.end(req.method === 'HEAD' ? undefined : file.body);
  };
}
