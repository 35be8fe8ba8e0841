// SPDX-License-Identifier: Apache-2.0
/**
 * Secrets (API and bootstrap tokens, passwords) come from a file or the
 * environment. Every local user can read every process's command line
 * (/proc/<pid>/cmdline), while a 0600 file and /proc/<pid>/environ are the
 * owner's. A secret given on the command line is still taken, with a warning
 * that names the safer form.
 */
import { readFileSync, statSync } from 'node:fs';
import { UsageError } from './cli-error';
import type { OptionSpec } from './command';
import { configOrigin } from './config-file';

export interface SecretFlag {
  /** the flag that takes the secret itself, e.g. "token" for --token */
  flag: string;
  /** the environment variable read when neither flag is given */
  env: string;
}

const warn = (message: string) => process.stderr.write(`fleettrace: warning: ${message}\n`);

/**
 * The secret of `--<flag>`, `--<flag>-file FILE` or `$<env>`, in that order;
 * undefined when none is given. One trailing newline of a file is dropped.
 * Warns on stderr when the secret is on the command line, and when its file
 * can be read by group or others. `values` may hold options of a --config
 * file (parseServiceArgs): a secret from there is not on the command line.
 */
export function readSecret(
  values: Record<string, unknown>,
  { flag, env }: SecretFlag,
): string | undefined {
  const inline = values[flag] as string | undefined;
  const file = values[`${flag}-file`] as string | undefined;
  if (inline !== undefined && file !== undefined)
    throw new UsageError(`--${flag}, --${flag}-file: give one of them`);
  // From a config file, the secret is not on the command line; checkConfigFile
  // has warned if other users can read the file.
  if (inline !== undefined && configOrigin(flag)) return inline;
  if (inline !== undefined) {
    warn(
      `--${flag} on the command line can be read by every local user (/proc/<pid>/cmdline); ` +
        `use --${flag}-file FILE (mode 0600) or $${env}`,
    );
    return inline;
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
      const mode = statSync(file).mode & 0o777;
      if (mode & 0o077)
        warn(
          `--${flag}-file ${file} can be read by other local users (mode 0${mode.toString(8)}): chmod 600 ${file}`,
        );
    } catch (err) {
      throw new UsageError(`--${flag}-file: ${(err as Error).message}`);
    }
    const secret = text.replace(/\r?\n$/, '');
    if (!secret) throw new UsageError(`--${flag}-file: ${file} is empty`);
    return secret;
  }
  return process.env[env] || undefined;
}

/** The two options of a secret: `--<flag>-file FILE` and `--<flag> SECRET`. */
export type SecretOptions<F extends string> = {
  [K in `${F}-file` | F]: OptionSpec & { type: 'string' };
};

/**
 * A secret's options: `--<flag>-file FILE`, whose help says what the secret
 * is and where it comes from without the file, and `--<flag> SECRET`, the
 * secret itself, taken with the warning readSecret gives.
 */
export function secretOptions<const F extends string>(
  flag: F,
  help: string,
  section?: string,
): SecretOptions<F> {
  const where = section !== undefined ? { section } : {};
  return {
    [`${flag}-file`]: { type: 'string', placeholder: 'FILE', help, ...where },
    [flag]: {
      type: 'string',
      placeholder: 'SECRET',
      help: `the secret itself, instead of --${flag}-file (every local user can read a command line)`,
      ...where,
    },
  } as SecretOptions<F>;
}
