// SPDX-License-Identifier: Apache-2.0
export * from './validation';
export * from './names';
export * from './users';
export * from './cgroups';
export * from './format';
export * from './histogram';
export * from './json-logger';
export * from './memory-caches';
export * from './bearer-token';
export * from './data-dir';
export * from './terminal-text';
