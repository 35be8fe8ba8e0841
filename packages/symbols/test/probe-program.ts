// SPDX-License-Identifier: Apache-2.0
/**
 * A small C program for symbolization tests, built with the system compiler into a temporary
 * directory. It prints the address of its own function and of libc's getpid, then blocks on
 * stdin until the test lets it go.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PROBE_SOURCE = `#include <stdio.h>
#include <unistd.h>

/* A function without .size, as hand-written assembly often is: its size is 0. */
__asm__(".text\\n"
        ".globl fleettrace_unsized\\n"
        ".type fleettrace_unsized, @function\\n"
        "fleettrace_unsized:\\n"
        "  nop\\n  nop\\n  nop\\n  ret\\n");

void fleettrace_symbols_probe(void) {
  printf("%p\\n", (void *)fleettrace_symbols_probe);
  printf("%p\\n", (void *)getpid);
  fflush(stdout);
  char byte;
  (void)read(0, &byte, 1);
}

int main(void) {
  fleettrace_symbols_probe();
  return 0;
}
`;

/** Builds `dir`/prog (stripped of .symtab when asked) and returns its path. */
export function buildProbe(dir: string, options: { strip?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  const source = join(dir, 'prog.c');
  const binary = join(dir, 'prog');
  writeFileSync(source, PROBE_SOURCE);
  execFileSync('cc', ['-O0', '-fno-omit-frame-pointer', '-Wall', '-o', binary, source]);
  if (options.strip) execFileSync('strip', [binary]);
  return binary;
}

export class ProbeProcess {
  private constructor(
    readonly child: ChildProcessWithoutNullStreams,
    readonly pid: number,
    /** address of fleettrace_symbols_probe */
    readonly probeAddress: bigint,
    /** address of libc's getpid */
    readonly getpidAddress: bigint,
  ) {}

  static async start(binary: string): Promise<ProbeProcess> {
    const child = spawn(binary, [], { stdio: 'pipe' });
    child.stdout.setEncoding('utf8');
    let output = '';
    const lines = await new Promise<string[]>((resolve, reject) => {
      const onData = (chunk: string) => {
        output += chunk;
        const complete = output.split('\n').slice(0, -1);
        if (complete.length >= 2) {
          child.stdout.off('data', onData);
          resolve(complete);
        }
      };
      child.stdout.on('data', onData);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${binary} exited with ${code} early`)));
    });
    if (child.pid === undefined) throw new Error(`${binary} has no pid`);
    return new ProbeProcess(child, child.pid, BigInt(lines[0] ?? ''), BigInt(lines[1] ?? ''));
  }

  /** /proc/PID/maps of the running probe. */
  maps(): string {
    return readFileSync(`/proc/${this.pid}/maps`, 'utf8');
  }

  /** Kills the probe and waits until it is reaped, so /proc/PID is gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** The mapping line of `maps` containing `address`, split into its fields. */
export function mappingLineOf(
  maps: string,
  address: bigint,
): { start: bigint; end: bigint; offset: bigint; path: string } {
  for (const line of maps.split('\n')) {
    const fields = line.split(/\s+/);
    const [range, , offset] = fields;
    if (range === undefined || offset === undefined || !range.includes('-')) continue;
    const [start, end] = range.split('-').map((hex) => BigInt(`0x${hex}`));
    if (start === undefined || end === undefined) continue;
    if (start <= address && address < end)
      return { start, end, offset: BigInt(`0x${offset}`), path: fields.slice(5).join(' ') };
  }
  throw new Error(`no mapping contains 0x${address.toString(16)}`);
}

/** The build id `readelf -n` prints for `path`. */
export function readelfBuildId(path: string): string {
  const notes = execFileSync('readelf', ['-n', path], { encoding: 'utf8' });
  const match = /Build ID: ([0-9a-f]+)/.exec(notes);
  if (match === null) throw new Error(`readelf -n ${path} shows no build id`);
  return match[1] as string;
}
