// SPDX-License-Identifier: Apache-2.0
export * from './runtime/bpf-session';
export * from './runtime/capabilities';
export * from './runtime/definition';
export * from './runtime/filters';
export * from './runtime/host';
export * from './runtime/kernel-features';
export * from './runtime/layout';
export * from './runtime/registry';
export * from './runtime/run-local';
export * from './runtime/pprof';
export * from './runtime/stacks';
