/**
 * EC2 on the local endpoint (EC2 Query protocol: form body in, XML with `item` lists out):
 * DescribeSecurityGroups over the security groups the stacks registered, and the instances of a
 * private ECS cluster (ec2instances.ts).
 */
import type { LocalContext } from './context.js';
import type { SecurityGroup } from './state.js';
import { EC2_INSTANCE_ACTIONS, Ec2Instances } from './ec2instances.js';
import { AwsApiError, queryList, queryStructList, requestId, xml, type QueryParams, type Reply, type XmlValue } from './wire.js';

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export class Ec2Service {
  private readonly instances: Ec2Instances;
  constructor(private readonly ctx: LocalContext) {
    this.instances = new Ec2Instances(ctx);
  }

  handle(action: string, params: QueryParams): Reply {
    const inst = EC2_INSTANCE_ACTIONS.find((a) => a === action);
    if (inst) return { status: 200, headers: { 'content-type': 'text/xml' }, body: this.instances.handle(inst, params) };
    if (action !== 'DescribeSecurityGroups') {
      throw new AwsApiError('InvalidAction', `The action ${action} is not valid for this web service (local endpoint).`);
    }
    const ids = queryList(params, 'GroupId');
    const names = queryList(params, 'GroupName');
    let groups = [...this.ctx.state.securityGroups.values()];
    for (const id of ids) {
      if (!this.ctx.state.securityGroups.has(id)) throw new AwsApiError('InvalidGroup.NotFound', `The security group '${id}' does not exist`);
    }
    if (ids.length > 0) groups = groups.filter((g) => ids.includes(g.id));
    if (names.length > 0) groups = groups.filter((g) => names.includes(g.name));
    for (const f of queryStructList(params, 'Filter')) {
      const values = Object.entries(f)
        .filter(([k]) => k.startsWith('Value.'))
        .map(([, v]) => v);
      const field: Record<string, (g: SecurityGroup) => string> = { 'group-id': (g) => g.id, 'group-name': (g) => g.name, 'vpc-id': (g) => g.vpcId };
      const get = f.Name === undefined ? undefined : field[f.Name];
      if (!get)
        throw new AwsApiError('InvalidParameterValue', `The filter '${f.Name ?? ''}' is invalid (local endpoint supports group-id, group-name, vpc-id)`);
      groups = groups.filter((g) => values.includes(get(g)));
    }
    const info: XmlValue = groups.map((g) => ({
      ownerId: this.ctx.accountId,
      groupId: g.id,
      groupName: g.name,
      groupDescription: g.description,
      vpcId: g.vpcId,
      securityGroupArn: `arn:aws:ec2:${this.ctx.region}:${this.ctx.accountId}:security-group/${g.id}`,
      ipPermissions: g.ingress.map((r) => ({
        ipProtocol: r.protocol,
        fromPort: r.fromPort,
        toPort: r.toPort,
        groups: r.sourceGroupId === undefined ? [] : [{ userId: this.ctx.accountId, groupId: r.sourceGroupId, description: r.description }],
        ipRanges: r.cidr === undefined ? [] : [{ cidrIp: r.cidr, description: r.description }],
        ipv6Ranges: [],
        prefixListIds: [],
      })),
      ipPermissionsEgress: [{ ipProtocol: '-1', groups: [], ipRanges: [{ cidrIp: '0.0.0.0/0' }], ipv6Ranges: [], prefixListIds: [] }],
    }));
    const body = `<DescribeSecurityGroupsResponse xmlns="${NS}"><requestId>${requestId()}</requestId><securityGroupInfo>${xml(info, 'item')}</securityGroupInfo></DescribeSecurityGroupsResponse>`;
    return { status: 200, headers: { 'content-type': 'text/xml' }, body };
  }
}

/** The EC2 error document. */
export function ec2Error(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${xml(code, 'item')}</Code><Message>${xml(message, 'item')}</Message></Error></Errors><RequestID>${requestId()}</RequestID></Response>`;
}
