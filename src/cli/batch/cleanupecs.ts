/**
 * The part of `riots batch cleanup` for what CW_ECS runs make for themselves (RIOS's
 * create_cluster, run_instances, register_task_definition): every cluster, task definition and
 * EC2 instance tagged with a run id (all of riots', or one run's), stopped tasks first, then
 * removed in the order a run removes them (src/aws/ecsrun.ts).
 */
import { awsCall, ec2, ecs } from '../../aws/clients.js';
import { EcsRunResources } from '../../aws/ecsrun.js';
import { RUN_ID_TAG } from '../../aws/stack.js';
import type { EcsLoaded } from '../../aws/tasks.js';
import { out } from './common.js';

interface Found {
  clusters: string[];
  definitions: string[];
  instances: string[];
}

async function runTagOf(e: EcsLoaded, arn: string): Promise<string | undefined> {
  const r = await awsCall(`ListTagsForResource ${arn}`, () => e.client.send(new e.sdk.ListTagsForResourceCommand({ resourceArn: arn })));
  return r.tags?.find((t) => t.key === RUN_ID_TAG)?.value;
}

/**
 * Remove the clusters, task definitions and instances of run `runId` (every riots run when
 * undefined). `stopTasks(cluster)` stops a cluster's tasks of the run first. Returns how many
 * things were found.
 */
export async function cleanRunResources(
  region: string | undefined,
  runId: string | undefined,
  dryRun: boolean,
  waitSeconds: number,
  stopTasks: (cluster: string) => Promise<unknown>,
): Promise<number> {
  const e = await ecs(region);
  const x = await ec2(region);
  try {
    const byRun = new Map<string, Found>();
    const add = (run: string | undefined, k: keyof Found, v: string): void => {
      if (run === undefined || (runId !== undefined && run !== runId)) return;
      const f = byRun.get(run) ?? { clusters: [], definitions: [], instances: [] };
      f[k].push(v);
      byRun.set(run, f);
    };
    const clusters = await awsCall('ListClusters', () => e.client.send(new e.sdk.ListClustersCommand({})));
    for (const arn of clusters.clusterArns ?? []) add(await runTagOf(e, arn), 'clusters', arn.slice(arn.lastIndexOf('/') + 1));
    let nextToken: string | undefined;
    do {
      const defs = await awsCall('ListTaskDefinitions', () =>
        e.client.send(new e.sdk.ListTaskDefinitionsCommand({ status: 'ACTIVE', ...(nextToken ? { nextToken } : {}) })),
      );
      for (const arn of defs.taskDefinitionArns ?? []) add(await runTagOf(e, arn), 'definitions', arn);
      nextToken = defs.nextToken;
    } while (nextToken);
    const inst = await awsCall('DescribeInstances', () =>
      x.client.send(
        new x.sdk.DescribeInstancesCommand({
          Filters: [
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
            runId === undefined ? { Name: 'tag-key', Values: [RUN_ID_TAG] } : { Name: `tag:${RUN_ID_TAG}`, Values: [runId] },
          ],
        }),
      ),
    );
    for (const i of (inst.Reservations ?? []).flatMap((r) => r.Instances ?? []))
      add(i.Tags?.find((t) => t.Key === RUN_ID_TAG)?.Value, 'instances', i.InstanceId!);

    let n = 0;
    for (const [run, f] of byRun) {
      const what = [
        ...f.clusters.map((c) => `cluster ${c}`),
        ...f.definitions.map((d) => `task definition ${d.slice(d.lastIndexOf('/') + 1)}`),
        ...f.instances.map((i) => `instance ${i}`),
      ];
      n += what.length;
      if (dryRun) {
        for (const w of what) out(`would remove ${w} (run ${run})`);
        continue;
      }
      for (const c of f.clusters) await stopTasks(c);
      // a run makes one cluster and one task definition; its instances join the cluster and go before it
      const left: string[] = [];
      for (let i = 0; i < Math.max(1, f.clusters.length, f.definitions.length); i++) {
        const r = new EcsRunResources(e, x, run, {}, { instanceWaitSeconds: waitSeconds, pollSeconds: 2 });
        if (f.clusters[i] !== undefined) r.made.cluster = f.clusters[i];
        if (f.definitions[i] !== undefined) r.made.taskDefinitionArn = f.definitions[i];
        if (i === 0) r.made.instanceIds = f.instances;
        left.push(...(await r.destroy()));
      }
      if (left.length === 0) for (const w of what) out(`removed ${w} (run ${run})`);
      else for (const l of left) out(`could not remove: ${l}`);
    }
    return n;
  } finally {
    e.client.destroy();
    x.client.destroy();
  }
}
