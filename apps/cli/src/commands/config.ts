// SPDX-License-Identifier: Apache-2.0
import { toJson } from '../cli-error';
import { defineCommand } from '../command';
import { checkConfigFile } from '../config-file';
import { listed } from '../registry';

const check = defineCommand({
  name: 'check',
  summary: 'check a --config file; exit 1 on errors',
  args: ['FILE'],
  description: `Checks the YAML file that \`fleettrace controller\`, \`agent\` and \`ingest\` take
with --config FILE (docs/config.md): its syntax, its sections and every key of
every section present (known, of the right type, no --help), and warns when it
holds a secret other local users can read. Prints "ok" or the errors, one per
line as FILE: section.key: problem, and exits 1 on errors. The values' ranges
and how options combine are checked by each service when it starts.`,
  data: true,
  jsonHelp: 'print {"file", "ok", "sections", "errors", "warnings"}',
  run: checkCommand,
});

export const configCommand = defineCommand({
  ...listed('config'),
  description: `The --config file of \`fleettrace controller\`, \`agent\` and \`ingest\`
(docs/config.md).`,
  subcommands: [check],
});

async function checkCommand(values: { json: boolean }, positionals: string[]): Promise<number> {
  const file = positionals[0] as string; // one FILE: defineCommand counted the arguments
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
