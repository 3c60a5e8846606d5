/**
 * EC2 instances on the local endpoint, as a private ECS cluster needs them (RIOS's CW_ECS with
 * `run_instances`): RunInstances, TerminateInstances and DescribeInstances. An instance is
 * `pending`, then `running`, and its ECS agent registers it with the cluster its user data names
 * (`ECS_CLUSTER=<name>` in /etc/ecs/ecs.config), which counts it in DescribeClusters'
 * registeredContainerInstancesCount; terminated, it leaves the cluster. Nothing runs on it: ECS
 * tasks placed on the cluster run as the endpoint's processes, as Fargate ones do.
 */
import { randomBytes } from 'node:crypto';
import { later, type LocalContext } from './context.js';
import type { Ec2Instance } from './state.js';
import { AwsApiError, queryList, queryStructList, required, requestId, xml, type QueryParams, type XmlValue } from './wire.js';

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const CODES: Record<Ec2Instance['state'], number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48 };

export const EC2_INSTANCE_ACTIONS = ['RunInstances', 'TerminateInstances', 'DescribeInstances'] as const;

export class Ec2Instances {
  constructor(private readonly ctx: LocalContext) {}

  handle(action: (typeof EC2_INSTANCE_ACTIONS)[number], params: QueryParams): string {
    switch (action) {
      case 'RunInstances':
        return this.run(params);
      case 'TerminateInstances':
        return this.terminate(params);
      case 'DescribeInstances':
        return this.describe(params);
    }
  }

  private run(p: QueryParams): string {
    const imageId = required(p, 'ImageId');
    const min = Number(required(p, 'MinCount'));
    const max = Number(required(p, 'MaxCount'));
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max < min) {
      throw new AwsApiError('InvalidParameterValue', 'MinCount and MaxCount must be whole numbers from 1, MinCount <= MaxCount.');
    }
    const groups = [
      ...queryList(p, 'SecurityGroupId'),
      ...queryStructList(p, 'NetworkInterface').flatMap((n) =>
        Object.entries(n)
          .filter(([k]) => k.startsWith('SecurityGroupId.'))
          .map(([, v]) => v),
      ),
    ];
    for (const g of groups)
      if (!this.ctx.state.securityGroups.has(g)) throw new AwsApiError('InvalidGroup.NotFound', `The security group '${g}' does not exist`);
    const userData = p.get('UserData');
    const config = userData === undefined ? '' : Buffer.from(userData, 'base64').toString('utf8');
    const clusterName = /ECS_CLUSTER=([A-Za-z0-9_-]+)/.exec(config)?.[1];
    const tags = queryStructList(p, 'TagSpecification')
      .filter((t) => t.ResourceType === 'instance')
      .flatMap((t) => {
        const out: { key: string; value: string }[] = [];
        for (let i = 1; t[`Tag.${i}.Key`] !== undefined; i++) out.push({ key: t[`Tag.${i}.Key`]!, value: t[`Tag.${i}.Value`] ?? '' });
        return out;
      });
    const made: Ec2Instance[] = [];
    for (let i = 0; i < max; i++) {
      const inst: Ec2Instance = {
        id: `i-${randomBytes(8).toString('hex').slice(0, 17)}`,
        imageId,
        instanceType: p.get('InstanceType') ?? 'm1.small',
        state: 'pending',
        securityGroupIds: groups,
        tags,
        launchTime: new Date(),
        ...(p.get('SubnetId') !== undefined ? { subnetId: p.get('SubnetId')! } : {}),
        ...(p.get('IamInstanceProfile.Arn') !== undefined ? { profileArn: p.get('IamInstanceProfile.Arn')! } : {}),
        ...(clusterName !== undefined ? { clusterName } : {}),
      };
      this.ctx.state.instances.set(inst.id, inst);
      made.push(inst);
      later(this.ctx, this.ctx.stackDelayMs, () => this.boot(inst));
    }
    const reservationId = `r-${randomBytes(8).toString('hex').slice(0, 17)}`;
    return this.reply(
      'RunInstances',
      `<reservationId>${reservationId}</reservationId><ownerId>${this.ctx.accountId}</ownerId><instancesSet>${xml(
        made.map((m) => this.item(m)),
        'item',
      )}</instancesSet>`,
    );
  }

  /** Running: its agent registers it with its cluster, if that cluster exists. */
  private boot(inst: Ec2Instance): void {
    if (inst.state !== 'pending') return;
    inst.state = 'running';
    const c = inst.clusterName === undefined ? undefined : this.ctx.state.findCluster(inst.clusterName);
    if (c) {
      c.containerInstances = (c.containerInstances ?? 0) + 1;
      inst.joined = c.name;
    }
  }

  private terminate(p: QueryParams): string {
    const ids = queryList(p, 'InstanceId');
    if (ids.length === 0) throw new AwsApiError('MissingParameter', 'The request must contain the parameter InstanceId');
    const insts = ids.map((id) => {
      const i = this.ctx.state.instances.get(id);
      if (!i) throw new AwsApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
      return i;
    });
    const changes = insts.map((i) => {
      const previous = i.state;
      if (i.state !== 'terminated') {
        i.state = 'shutting-down';
        this.leave(i);
        later(this.ctx, this.ctx.stackDelayMs, () => (i.state = 'terminated'));
      }
      return { instanceId: i.id, currentState: { code: CODES[i.state], name: i.state }, previousState: { code: CODES[previous], name: previous } };
    });
    return this.reply('TerminateInstances', `<instancesSet>${xml(changes, 'item')}</instancesSet>`);
  }

  private leave(i: Ec2Instance): void {
    if (i.joined === undefined) return;
    const c = this.ctx.state.findCluster(i.joined);
    if (c) c.containerInstances = Math.max(0, (c.containerInstances ?? 0) - 1);
    delete i.joined;
  }

  private describe(p: QueryParams): string {
    const ids = queryList(p, 'InstanceId');
    let insts = [...this.ctx.state.instances.values()];
    for (const id of ids) if (!this.ctx.state.instances.has(id)) throw new AwsApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    if (ids.length > 0) insts = insts.filter((i) => ids.includes(i.id));
    for (const f of queryStructList(p, 'Filter')) {
      const values = Object.entries(f)
        .filter(([k]) => k.startsWith('Value.'))
        .map(([, v]) => v);
      const name = f.Name ?? '';
      if (name === 'instance-state-name') insts = insts.filter((i) => values.includes(i.state));
      else if (name.startsWith('tag:')) insts = insts.filter((i) => i.tags.some((t) => t.key === name.slice(4) && values.includes(t.value)));
      else if (name === 'tag-key') insts = insts.filter((i) => i.tags.some((t) => values.includes(t.key)));
      else throw new AwsApiError('InvalidParameterValue', `The filter '${name}' is invalid (local endpoint supports instance-state-name, tag:<key>, tag-key)`);
    }
    const reservations: XmlValue = insts.map((i) => ({ reservationId: `r-${i.id.slice(2)}`, ownerId: this.ctx.accountId, instancesSet: [this.item(i)] }));
    return this.reply('DescribeInstances', `<reservationSet>${xml(reservations, 'item')}</reservationSet>`);
  }

  private item(i: Ec2Instance): Record<string, XmlValue> {
    return {
      instanceId: i.id,
      imageId: i.imageId,
      instanceType: i.instanceType,
      instanceState: { code: CODES[i.state], name: i.state },
      launchTime: i.launchTime,
      subnetId: i.subnetId,
      iamInstanceProfile: i.profileArn === undefined ? undefined : { arn: i.profileArn },
      groupSet: i.securityGroupIds.map((g) => ({ groupId: g })),
      tagSet: i.tags,
    };
  }

  private reply(action: string, inner: string): string {
    return `<${action}Response xmlns="${NS}"><requestId>${requestId()}</requestId>${inner}</${action}Response>`;
  }
}
