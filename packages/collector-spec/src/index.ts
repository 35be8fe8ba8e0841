// SPDX-License-Identifier: Apache-2.0
export * from './manifest';
export * from './kernel-features';
export * from './render';
export * from './plan';
export * from './docs';
export * from './params';
export * from './filters';
export * from './tsv';
export * from './fields';
