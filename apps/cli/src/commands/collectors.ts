// SPDX-License-Identifier: Apache-2.0
import { renderTable } from '@fleettrace/common';
import { collectors } from '@fleettrace/collectors';
import { defineCommand, printData } from '../command';
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
    printData(values.json, list, () =>
      renderTable(
        ['COLLECTOR', 'WHAT IT ANSWERS'],
        list.map((c) => [c.name, c.description]),
      ),
    );
    return 0;
  },
});
