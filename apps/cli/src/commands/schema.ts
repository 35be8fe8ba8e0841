// SPDX-License-Identifier: Apache-2.0
import { parseInteger } from '@fleettrace/common';
import { UsageError } from '../cli-error';
import { defineCommand, printData } from '../command';
import { listed } from '../registry';

const MODERN = '24.8';

export const schemaCommand = defineCommand({
  ...listed('schema'),
  usage: ['[--server-version V] [--json]', '--cluster NAME [options]'],
  description: `Prints the schema's DDL, one statement after another, each ending in ";"
(clickhouse-client --multiquery takes the output as it is).

Without --cluster: the statements ingest applies to one server itself when it
starts (its migrations), for reading; there is nothing to run by hand.

With --cluster NAME (a cluster of the servers' remote_servers): for every table
T of the migrations, T_local on each server (ReplicatedReplacingMergeTree, the
same columns, partitions, sorting key and settings) and T itself as a
Distributed table over them, sharded by cityHash64(host) where host is in the
table's sorting key (every collector table), else by the key's first column
(batches by agent_id, stacks by stack_id, jobs and job_runs by job_id, agents by
agent_id): every copy of a row on one shard, so FINAL collapses them. Run it once, on any server,
before ingest first starts (docs/deploy.md "More than one ClickHouse server").`,
  options: {
    cluster: {
      type: 'string',
      placeholder: 'NAME',
      help: 'generate the cluster DDL for this cluster',
    },
    'zookeeper-path': {
      type: 'string',
      placeholder: 'P',
      help: "prefix of the tables' ZooKeeper paths; /<db>/<table> is appended (default /clickhouse/tables/{shard})",
    },
    replica: {
      type: 'string',
      placeholder: 'R',
      help: "the replica name (default {replica}: each server's macro)",
    },
    'no-replication': {
      type: 'boolean',
      default: false,
      help: 'plain ReplacingMergeTree local tables and no ON CLUSTER, for one server per shard without ZooKeeper: run the output on every server of the cluster',
    },
    'retention-days': {
      type: 'string',
      placeholder: 'N',
      help: 'TTL of the time-partitioned tables (default 30, 0 for none; only on servers with TTL, 19.6 on): on a cluster start ingest with --retention-days 0, the TTL is here',
    },
    'server-version': {
      type: 'string',
      default: MODERN,
      placeholder: 'V',
      help: "the (oldest) servers' version, e.g. 18.16: types and settings the server lacks are left out",
    },
  },
  data: true,
  jsonHelp: 'print {statements, tables} as JSON',
  async run(values) {
    const version = values['server-version'];
    if (!/^\d+\.\d+(\.\d+)*$/.test(version))
      throw new UsageError(
        `--server-version: expected a version such as 18.16 or 24.8, got ${JSON.stringify(version)}`,
      );
    const { featuresOf } = await import('@fleettrace/store');
    const { clusterSchema, MIGRATIONS } = await import('@fleettrace/ingest');
    const features = featuresOf(version);
    const cluster = values.cluster;
    if (cluster === undefined) {
      for (const flag of ['zookeeper-path', 'replica', 'retention-days'] as const)
        if (values[flag] !== undefined) throw new UsageError(`--${flag}: only with --cluster`);
      if (values['no-replication']) throw new UsageError('--no-replication: only with --cluster');
      const statements = MIGRATIONS.flatMap((m) => m.statements(features));
      printData(values.json, { statements }, () => statements.join(';\n\n') + ';');
      return 0;
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(cluster))
      throw new UsageError(
        `--cluster: letters, digits and _ (starting with a letter or _), got ${JSON.stringify(cluster)}`,
      );
    if (values['no-replication'])
      for (const flag of ['zookeeper-path', 'replica'] as const)
        if (values[flag] !== undefined)
          throw new UsageError(`--${flag}: not with --no-replication (no ZooKeeper)`);
    const zookeeperPath = values['zookeeper-path'];
    if (zookeeperPath !== undefined && !/^\/[^'\\\s]*$/.test(zookeeperPath))
      throw new UsageError(
        `--zookeeper-path: an absolute path without quotes or spaces, got ${JSON.stringify(zookeeperPath)}`,
      );
    const replica = values.replica;
    if (replica !== undefined && !/^[^'\\\s]+$/.test(replica))
      throw new UsageError(`--replica: no quotes or spaces, got ${JSON.stringify(replica)}`);
    const retentionDays =
      values['retention-days'] === undefined
        ? 30
        : parseInteger('--retention-days', values['retention-days'], 0, 36_500);
    const schema = clusterSchema({
      cluster,
      features,
      replication: values['no-replication'] ? 'none' : 'zookeeper',
      retentionDays,
      ...(zookeeperPath !== undefined ? { zookeeperPath } : {}),
      ...(replica !== undefined ? { replica } : {}),
    });
    printData(values.json, schema, () => schema.statements.join(';\n\n') + ';');
    return 0;
  },
});
