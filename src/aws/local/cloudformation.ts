/**
 * CloudFormation on the local endpoint (AWS Query protocol: form body in, XML out).
 * CreateStack, UpdateStack, DescribeStacks, DeleteStack and DescribeStackEvents, on templates
 * evaluated by template.ts; a stack's Batch/ECR/EC2 objects appear when it completes.
 */
import { randomUUID } from 'node:crypto';
import { parseTemplate, type TemplateValue } from './cfnyaml.js';
import { later, type LocalContext } from './context.js';
import { busyClusters, conflicts, nonEmptyRepositories, provision, unprovision } from './provision.js';
import { TemplateError, TemplateEvaluator, resolveParameters, type EvaluatedStack } from './template.js';
import { AwsApiError, queryList, queryStructList, required, requestId, xml, type QueryParams, type Reply, type XmlValue } from './wire.js';

const NS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

interface StackEvent {
  EventId: string;
  StackId: string;
  StackName: string;
  LogicalResourceId: string;
  PhysicalResourceId: string;
  ResourceType: string;
  Timestamp: Date;
  ResourceStatus: string;
  ResourceStatusReason?: string;
}

export interface Stack {
  stackId: string;
  stackName: string;
  status: string;
  statusReason?: string;
  description?: string;
  creationTime: Date;
  lastUpdatedTime?: Date;
  deletionTime?: Date;
  templateBody: string;
  givenParameters: Record<string, string>;
  capabilities: string[];
  tags: { Key: string; Value: string }[];
  evaluated: EvaluatedStack;
  events: StackEvent[];
}

/** Stacks by id (deleted ones are kept, as AWS keeps them visible by id). */
export class CloudFormationService {
  readonly stacks = new Map<string, Stack>();

  constructor(private readonly ctx: LocalContext) {}

  handle(action: string, params: QueryParams): Reply {
    switch (action) {
      case 'CreateStack':
        return this.reply(action, { StackId: this.createStack(params) });
      case 'UpdateStack':
        return this.reply(action, { StackId: this.updateStack(params) });
      case 'DeleteStack':
        this.deleteStack(params);
        return this.reply(action, undefined);
      case 'DescribeStacks':
        return this.reply(action, { Stacks: this.describeStacks(params.get('StackName')) });
      case 'DescribeStackEvents': {
        const stack = this.find(required(params, 'StackName'));
        return this.reply(action, { StackEvents: [...stack.events].reverse() as unknown as XmlValue });
      }
      default:
        throw new AwsApiError('InvalidAction', `The action ${action} is not valid for this web service (local endpoint).`);
    }
  }

  private reply(action: string, result: XmlValue): Reply {
    const body =
      `<${action}Response xmlns="${NS}">` +
      (result === undefined ? '' : `<${action}Result>${xml(result, 'member')}</${action}Result>`) +
      `<ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></${action}Response>`;
    return { status: 200, headers: { 'content-type': 'text/xml' }, body };
  }

  /** A live stack by name, or any stack by id. */
  find(nameOrId: string): Stack {
    const byId = this.stacks.get(nameOrId);
    if (byId) return byId;
    const live = [...this.stacks.values()].find((s) => s.stackName === nameOrId && s.status !== 'DELETE_COMPLETE');
    if (!live) throw new AwsApiError('ValidationError', `Stack with id ${nameOrId} does not exist`);
    return live;
  }

  private event(stack: Stack, logicalId: string, physicalId: string, type: string, status: string, reason?: string): void {
    const e: StackEvent = {
      EventId: randomUUID(),
      StackId: stack.stackId,
      StackName: stack.stackName,
      LogicalResourceId: logicalId,
      PhysicalResourceId: physicalId,
      ResourceType: type,
      Timestamp: new Date(),
      ResourceStatus: status,
    };
    if (reason !== undefined) e.ResourceStatusReason = reason;
    stack.events.push(e);
  }

  private stackEvent(stack: Stack, status: string, reason?: string): void {
    stack.status = status;
    if (reason === undefined) delete stack.statusReason;
    else stack.statusReason = reason;
    this.event(stack, stack.stackName, stack.stackId, 'AWS::CloudFormation::Stack', status, reason);
  }

  /** Parse, check parameters and capabilities, evaluate: every synchronous refusal of AWS. */
  private prepare(
    stackName: string,
    stackId: string,
    body: string,
    given: Record<string, string>,
    capabilities: string[],
  ): { template: Record<string, TemplateValue>; evaluated: EvaluatedStack } {
    let template: Record<string, TemplateValue>;
    try {
      template = parseTemplate(body);
    } catch (e) {
      throw new AwsApiError('ValidationError', `Template format error: ${(e as Error).message}`);
    }
    try {
      const params = resolveParameters(template, given);
      const resources = (template.Resources ?? {}) as Record<string, { Type?: string; Properties?: Record<string, unknown> }>;
      const iam = Object.values(resources).filter((r) => typeof r?.Type === 'string' && r.Type.startsWith('AWS::IAM::'));
      const named = iam.some((r) =>
        ['RoleName', 'InstanceProfileName', 'ManagedPolicyName', 'UserName', 'GroupName'].some((k) => r.Properties?.[k] !== undefined),
      );
      const needed = named ? 'CAPABILITY_NAMED_IAM' : 'CAPABILITY_IAM';
      if (iam.length > 0 && !capabilities.includes(needed) && !capabilities.includes('CAPABILITY_NAMED_IAM')) {
        throw new AwsApiError('InsufficientCapabilitiesException', `Requires capabilities : [${needed}]`);
      }
      const evaluated = new TemplateEvaluator(template, params, {
        stackName,
        stackId,
        region: this.ctx.region,
        accountId: this.ctx.accountId,
        registryHost: this.ctx.registry?.host,
      }).evaluate();
      return { template, evaluated };
    } catch (e) {
      if (e instanceof TemplateError) throw new AwsApiError(e.awsCode, e.message);
      throw e;
    }
  }

  private createStack(params: QueryParams): string {
    const stackName = required(params, 'StackName');
    if (!/^[a-zA-Z][-a-zA-Z0-9]{0,127}$/.test(stackName)) {
      throw new AwsApiError(
        'ValidationError',
        `1 validation error detected: Value '${stackName}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*`,
      );
    }
    if ([...this.stacks.values()].some((s) => s.stackName === stackName && s.status !== 'DELETE_COMPLETE')) {
      throw new AwsApiError('AlreadyExistsException', `Stack [${stackName}] already exists`);
    }
    if (params.has('TemplateURL')) throw new AwsApiError('ValidationError', 'TemplateURL is not supported by the local endpoint: pass TemplateBody');
    const body = required(params, 'TemplateBody');
    const given = givenParameters(params, {});
    const capabilities = queryList(params, 'Capabilities.member');
    const stackId = `arn:aws:cloudformation:${this.ctx.region}:${this.ctx.accountId}:stack/${stackName}/${randomUUID()}`;
    const { template, evaluated } = this.prepare(stackName, stackId, body, given, capabilities);
    const stack: Stack = {
      stackId,
      stackName,
      status: 'CREATE_IN_PROGRESS',
      creationTime: new Date(),
      templateBody: body,
      givenParameters: given,
      capabilities,
      tags: queryStructList(params, 'Tags.member').map((t) => ({ Key: t.Key ?? '', Value: t.Value ?? '' })),
      evaluated,
      events: [],
    };
    if (typeof template.Description === 'string') stack.description = template.Description;
    this.stacks.set(stackId, stack);
    this.stackEvent(stack, 'CREATE_IN_PROGRESS', 'User Initiated');
    for (const r of evaluated.resources) this.event(stack, r.logicalId, '', r.type, 'CREATE_IN_PROGRESS');
    later(this.ctx, this.ctx.stackDelayMs, () => this.finish(stack, 'CREATE', {}));
    return stackId;
  }

  /** Complete a create or update: register the resources of `next` (an update's new state) or fail. */
  private finish(stack: Stack, op: 'CREATE' | 'UPDATE', next: Partial<Stack>): void {
    const evaluated = next.evaluated ?? stack.evaluated;
    let failure = conflicts(this.ctx, stack.stackName, evaluated.resources);
    if (!failure) {
      try {
        provision(this.ctx, stack.stackName, evaluated.resources);
      } catch (e) {
        failure = { logicalId: evaluated.resources[0]!.logicalId, reason: `local endpoint could not register the resources: ${(e as Error).message}` };
      }
    }
    if (failure) {
      const r = evaluated.resources.find((x) => x.logicalId === failure.logicalId)!;
      this.event(stack, r.logicalId, '', r.type, `${op}_FAILED`, failure.reason);
      if (op === 'CREATE') {
        this.stackEvent(stack, 'ROLLBACK_IN_PROGRESS', `The following resource(s) failed to create: [${r.logicalId}]. Rollback requested by user.`);
        this.stackEvent(stack, 'ROLLBACK_COMPLETE');
      } else {
        this.stackEvent(stack, 'UPDATE_ROLLBACK_IN_PROGRESS', `The following resource(s) failed to update: [${r.logicalId}].`);
        this.stackEvent(stack, 'UPDATE_ROLLBACK_COMPLETE');
      }
      return;
    }
    Object.assign(stack, next);
    for (const r of evaluated.resources) this.event(stack, r.logicalId, r.physicalId, r.type, `${op}_COMPLETE`);
    this.stackEvent(stack, `${op}_COMPLETE`);
  }

  private updateStack(params: QueryParams): string {
    const stack = this.find(required(params, 'StackName'));
    if (!['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'UPDATE_ROLLBACK_COMPLETE'].includes(stack.status)) {
      throw new AwsApiError('ValidationError', `Stack:${stack.stackId} is in ${stack.status} state and can not be updated.`);
    }
    const body = params.get('UsePreviousTemplate') === 'true' ? stack.templateBody : required(params, 'TemplateBody');
    const given = givenParameters(params, stack.givenParameters);
    const capabilities = queryList(params, 'Capabilities.member');
    const { evaluated } = this.prepare(stack.stackName, stack.stackId, body, given, capabilities);
    if (body === stack.templateBody && JSON.stringify(evaluated.parameters) === JSON.stringify(stack.evaluated.parameters)) {
      throw new AwsApiError('ValidationError', 'No updates are to be performed.');
    }
    // The stack keeps its template, parameters and outputs until the update completes.
    stack.lastUpdatedTime = new Date();
    this.stackEvent(stack, 'UPDATE_IN_PROGRESS', 'User Initiated');
    const next: Partial<Stack> = { templateBody: body, givenParameters: given, capabilities, evaluated };
    later(this.ctx, this.ctx.stackDelayMs, () => this.finish(stack, 'UPDATE', next));
    return stack.stackId;
  }

  private deleteStack(params: QueryParams): void {
    const name = required(params, 'StackName');
    let stack: Stack;
    try {
      stack = this.find(name);
    } catch {
      return; // AWS answers success for a stack that does not exist
    }
    if (stack.status === 'DELETE_COMPLETE' || stack.status === 'DELETE_IN_PROGRESS') return;
    this.stackEvent(stack, 'DELETE_IN_PROGRESS', 'User Initiated');
    later(this.ctx, this.ctx.stackDelayMs, () => {
      const full = nonEmptyRepositories(this.ctx, stack.stackName);
      const busy = busyClusters(this.ctx, stack.stackName);
      if (full.length > 0 || busy.length > 0) {
        const failed: string[] = [];
        for (const repo of full) {
          const r = stack.evaluated.resources.find((x) => x.type === 'AWS::ECR::Repository' && x.physicalId === repo)!;
          this.event(
            stack,
            r.logicalId,
            repo,
            r.type,
            'DELETE_FAILED',
            `The repository with name '${repo}' in registry with id '${this.ctx.accountId}' cannot be deleted because it still contains images`,
          );
          failed.push(repo);
        }
        for (const cluster of busy) {
          const r = stack.evaluated.resources.find((x) => x.type === 'AWS::ECS::Cluster' && x.physicalId === cluster)!;
          this.event(
            stack,
            r.logicalId,
            cluster,
            r.type,
            'DELETE_FAILED',
            `Error occurred during operation 'DeleteClusters SDK Error: The Cluster cannot be deleted while Tasks are active. (Service: Ecs, Status Code: 400, Error Code: ClusterContainsTasksException)'`,
          );
          failed.push(r.logicalId);
        }
        this.stackEvent(stack, 'DELETE_FAILED', `The following resource(s) failed to delete: [${failed.join(', ')}].`);
        return;
      }
      unprovision(this.ctx, stack.stackName, { terminateJobs: true });
      for (const r of [...stack.evaluated.resources].reverse()) this.event(stack, r.logicalId, r.physicalId, r.type, 'DELETE_COMPLETE');
      stack.deletionTime = new Date();
      this.stackEvent(stack, 'DELETE_COMPLETE');
    });
  }

  private describeStacks(name: string | undefined): XmlValue {
    const stacks = name === undefined ? [...this.stacks.values()].filter((s) => s.status !== 'DELETE_COMPLETE') : [this.find(name)];
    return stacks.map((s) => {
      const complete = s.status !== 'CREATE_IN_PROGRESS' && !s.status.startsWith('ROLLBACK') && s.status !== 'DELETE_COMPLETE';
      return {
        StackId: s.stackId,
        StackName: s.stackName,
        Description: s.description,
        Parameters: Object.entries(s.evaluated.parameters).map(([k, v]) => ({ ParameterKey: k, ParameterValue: v })),
        CreationTime: s.creationTime,
        LastUpdatedTime: s.lastUpdatedTime,
        DeletionTime: s.deletionTime,
        StackStatus: s.status,
        StackStatusReason: s.statusReason,
        DisableRollback: false,
        Capabilities: s.capabilities,
        Outputs: complete ? s.evaluated.outputs.map((o) => ({ OutputKey: o.key, OutputValue: o.value, Description: o.description })) : undefined,
        Tags: s.tags,
      };
    });
  }
}

/** Parameters.member.N.ParameterKey/ParameterValue, with UsePreviousValue taken from `previous`. */
function givenParameters(params: QueryParams, previous: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of queryStructList(params, 'Parameters.member')) {
    const key = m.ParameterKey;
    if (key === undefined) throw new AwsApiError('ValidationError', 'A parameter has no ParameterKey');
    if (m.UsePreviousValue === 'true') {
      if (previous[key] === undefined) {
        throw new AwsApiError(
          'ValidationError',
          `Invalid input for parameter key ${key}. Cannot specify usePreviousValue as true for a parameter key not in the previous template`,
        );
      }
      out[key] = previous[key]!;
    } else out[key] = m.ParameterValue ?? '';
  }
  return out;
}
