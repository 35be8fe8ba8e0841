// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { renderTable } from '@fleettrace/common';
import { collectors } from '@fleettrace/collectors';
import { toJson } from '../cli-error';

export async function collectorsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: fleettrace collectors [--json]\n\nLists the collectors this build has.\n',
    );
    return 0;
  }
  const list = [...collectors().values()].map((c) => ({
    name: c.name,
    description: c.description,
    requires: c.requires,
  }));
  if (values.json) process.stdout.write(toJson(list) + '\n');
  else
    process.stdout.write(
      renderTable(
        ['COLLECTOR', 'WHAT IT ANSWERS'],
        list.map((c) => [c.name, c.description]),
      ) + '\n',
    );
  return 0;
}
