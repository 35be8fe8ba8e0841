// SPDX-License-Identifier: Apache-2.0
import { renderTable } from '@fleettrace/common';
import { collectors } from '@fleettrace/collectors';
import { toJson } from '../cli-error';
import { defineCommand } from '../command';
import { listed } from '../registry';

export const collectorsCommand = defineCommand({
  ...listed('collectors'),
  description: 'Lists the collectors this build has.',
  data: true,
  async run(values) {
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
  },
});
