// SPDX-License-Identifier: Apache-2.0
export * from './store';
export { ServerStore, type ServerStoreOptions, type Credentials } from './server-store';
export { EmbeddedStore, type EmbeddedStoreOptions, limitSettings } from './embedded-store';
export {
  QueryRefusedError,
  checkLexically,
  checkAst,
  tokenize,
  HARMLESS_TABLE_FUNCTIONS,
  REFUSED_FUNCTIONS,
  type StatementKind,
} from './query-validator';
export { QueryService, QueryFailedError } from './query-service';
export {
  queryUsersXml,
  queryUsersSql,
  QUERY_PROFILE,
  type QueryUsersOptions,
} from './server-users';
export * as cannedQueries from './canned-queries';
