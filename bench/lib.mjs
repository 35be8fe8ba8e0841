// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the benchmarks: child processes, statistics, RESULTS.md.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';

export const RESULTS = join(import.meta.dirname, 'RESULTS.md');

/** Runs a command to completion; resolves with its stdout, rejects on a non-zero exit. */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}: ${err.slice(-500)}`)),
    );
  });
}

/** Starts a long-running tracer and resolves once `ready` matches its output. */
export function startTracer(cmd, args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const onData = (d) => {
      text += d;
      if (ready.test(text)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) =>
      reject(new Error(`${cmd} exited (${code}) before ready: ${text.slice(-500)}`)),
    );
  });
}

export function stopTracer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGINT');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function shuffle(xs) {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export function machine() {
  return `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Linux ${release()}`;
}

/** Replaces the section headed `## title` in RESULTS.md (or appends it). */
export function recordSection(title, body) {
  const head =
    '# Benchmark results\n\nEach section is replaced by the latest run of its benchmark.\n';
  let text = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : head;
  const section = `## ${title}\n\n${body.trim()}\n`;
  const re = new RegExp(
    `## ${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n[\\s\\S]*?(?=\\n## |$)`,
  );
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}`;
  writeFileSync(RESULTS, text.trimEnd() + '\n');
}
