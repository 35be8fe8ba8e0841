// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { toJson, UsageError } from '../cli-error';
import { checkConfigFile } from '../config-file';

export const CONFIG_HELP = `usage: fleettrace config check FILE [--json]

Checks the YAML file that \`fleettrace controller\`, \`agent\` and \`ingest\` take
with --config FILE (docs/config.md): its syntax, its sections and every key of
every section present (known, of the right type, no --help), and warns when it
holds a secret other local users can read. Prints "ok" or the errors, one per
line as FILE: section.key: problem, and exits 1 on errors. The values' ranges
and how options combine are checked by each service when it starts.

options:
  --json      {"file", "ok", "sections", "errors", "warnings"}
  -h, --help  this help`;

export async function configCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(CONFIG_HELP + '\n');
    return 0;
  }
  const [verb, file, ...extra] = positionals;
  if (verb !== 'check') throw new UsageError(`config: expected check FILE\n\n${CONFIG_HELP}`);
  if (file === undefined) throw new UsageError('config check: expected a FILE');
  if (extra.length)
    throw new UsageError(`config check takes one FILE, got also ${extra.join(' ')}`);
  const check = checkConfigFile(file);
  const ok = check.errors.length === 0;
  if (values.json) {
    process.stdout.write(
      toJson({
        file,
        ok,
        sections: Object.keys(check.sections),
        errors: check.errors,
        warnings: check.warnings,
      }) + '\n',
    );
  } else {
    for (const w of check.warnings) process.stderr.write(`fleettrace: warning: ${w}\n`);
    const sections = Object.keys(check.sections);
    process.stdout.write(
      ok
        ? `${file}: ok (${sections.length ? sections.join(', ') : 'no sections'})\n`
        : check.errors.join('\n') + '\n',
    );
  }
  return ok ? 0 : 1;
}
