// SPDX-License-Identifier: Apache-2.0
/**
 * The agent's state directory: its identity (agent id, host name, where the
 * controller is), its key and client certificate (one file, 0600, replaced
 * atomically so a crash during renewal never leaves a key without its
 * certificate), the CA it trusts, and a lock file that keeps a second agent
 * from running on the same directory.
 *
 * The lock holds the owner's pid; a lock whose process is gone is stale and
 * taken over. Node has no flock(2), so a pid recycled by an unrelated process
 * reads as a live owner: the message says which pid and file to check.
 */
import { X509Certificate } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface AgentIdentity {
  agent_id: string;
  hostname: string;
  labels: Record<string, string>;
  /** host:port of the Enrollment listener the agent enrolled through */
  enroll_address: string;
  /** host:port of the AgentControl listener */
  control_address: string;
  enrolled_at: string;
  /** when the current certificate was received (renewal is timed from it) */
  cert_received_ms: number;
}

export interface ClientCredentials {
  keyPem: string;
  certPem: string;
}

/** A second agent on the same state directory, or a directory we cannot use. */
export class StateDirError extends Error {
  override name = 'StateDirError';
}

const IDENTITY = 'identity.json';
const CLIENT = 'client.pem';
const CA = 'ca.pem';
const LOCK = 'agent.lock';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes a file through a temporary name and rename(2), so readers see the old or the new content, never half. */
export function writeAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

export class StateDir {
  private locked = false;

  private constructor(readonly dir: string) {}

  /**
   * Opens (creating it 0700) and locks `dir`. Refuses when another live
   * process holds the lock, naming it. `lock: false` opens without locking
   * (the sub-directories of simulated agents, under their fleet's lock).
   */
  static open(dir: string, opts: { lock?: boolean } = {}): StateDir {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StateDirError(`--state: cannot create ${dir}: ${(err as Error).message}`);
    }
    const s = new StateDir(dir);
    if (opts.lock !== false) s.lock();
    return s;
  }

  private lock(): void {
    const file = join(this.dir, LOCK);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new StateDirError(`--state: cannot lock ${file}: ${(err as Error).message}`);
      }
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && pidAlive(owner)) {
        throw new StateDirError(
          `another fleettrace agent (pid ${owner}) is running with state directory ${this.dir}; ` +
            `only one agent may run per host (stop it, or remove ${file} if pid ${owner} is not an agent)`,
        );
      }
      // Stale: its process is gone (or it is our own pid from a previous life).
      rmSync(file, { force: true });
    }
    throw new StateDirError(`--state: could not take the lock ${file}`);
  }

  /** Releases the lock if this process holds it. */
  close(): void {
    if (!this.locked) return;
    const file = join(this.dir, LOCK);
    try {
      if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true });
    } catch {
      // already gone
    }
    this.locked = false;
  }

  /** A sub-directory for one simulated agent, under this one's lock. */
  sub(name: string): StateDir {
    return StateDir.open(join(this.dir, name), { lock: false });
  }

  hasIdentity(): boolean {
    return (
      existsSync(join(this.dir, IDENTITY)) &&
      existsSync(join(this.dir, CLIENT)) &&
      existsSync(join(this.dir, CA))
    );
  }

  readIdentity(): AgentIdentity {
    return JSON.parse(readFileSync(join(this.dir, IDENTITY), 'utf8')) as AgentIdentity;
  }

  writeIdentity(identity: AgentIdentity): void {
    writeAtomic(join(this.dir, IDENTITY), JSON.stringify(identity, null, 2) + '\n', 0o600);
  }

  readCredentials(): ClientCredentials {
    const text = readFileSync(join(this.dir, CLIENT), 'utf8');
    const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(text)?.[0];
    const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(text)?.[0];
    if (!cert || !key)
      throw new StateDirError(
        `${join(this.dir, CLIENT)}: must hold a certificate and a private key`,
      );
    return { certPem: cert, keyPem: key };
  }

  writeCredentials(c: ClientCredentials): void {
    writeAtomic(
      join(this.dir, CLIENT),
      c.certPem.trimEnd() + '\n' + c.keyPem.trimEnd() + '\n',
      0o600,
    );
  }

  readCa(): string {
    return readFileSync(join(this.dir, CA), 'utf8');
  }

  writeCa(pem: string): void {
    writeAtomic(join(this.dir, CA), pem, 0o600);
  }

  /** The current certificate's expiry, ms since the epoch. */
  certificateNotAfterMs(): number {
    return Date.parse(new X509Certificate(this.readCredentials().certPem).validTo);
  }
}
