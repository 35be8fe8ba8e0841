// SPDX-License-Identifier: Apache-2.0
export * from './frames';
export * from './profile';
export * from './folded';
export * from './pprof';
export * from './speedscope';
export * from './flamegraph-svg';
export * from './diff';
export * from './selection';
export * from './stack-rows';
