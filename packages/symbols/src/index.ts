// SPDX-License-Identifier: Apache-2.0
export type { Frame } from './frame';
export * from './elf-file';
export * from './kernel-symbols';
export * from './process-maps';
export * from './symbolizer';
export * from './stack-hash';
export * from './stack-truncation';
export * from './lru-cache';
