// SPDX-License-Identifier: Apache-2.0
// Builds the addon with node-gyp against the headers of the running Node.js
// (Debian's nodejs ships them under /usr/include/node, so nothing is downloaded).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const nodedir = resolve(dirname(process.execPath), '..');
const args = ['rebuild', '-j', 'max'];
if (existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
execFileSync(process.execPath, [gyp, ...args], { stdio: 'inherit', cwd: import.meta.dirname });
