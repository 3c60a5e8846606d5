/**
 * Follow a CloudFormation stack operation (create, update, delete) to its end, printing each
 * status change and each new stack event, and the reasons of the failed events if it fails.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type * as CfnSdk from '@aws-sdk/client-cloudformation';
import { AwsError, TimeoutError } from '../../errors.js';
import { awsCall, sdkErrorText, type Loaded } from '../../aws/clients.js';
import { out } from './common.js';

export type StackGoal = 'CREATE' | 'UPDATE' | 'DELETE';

export interface StackWaitOptions {
  cfn: Loaded<typeof CfnSdk, CfnSdk.CloudFormationClient>;
  /** Stack id (preferred: survives deletion) or name. */
  stack: string;
  /** Name for messages. */
  stackName: string;
  goal: StackGoal;
  /** Events at or before this event's time are old (from earlier operations). */
  after?: Date | undefined;
  timeoutMs: number;
  pollMs: number;
}

interface EventLine {
  id: string;
  time: Date;
  logicalId: string;
  type: string;
  status: string;
  reason?: string;
}

/** Newest event time of a stack (to tell this operation's events from earlier ones). */
export async function latestEventTime(opts: Pick<StackWaitOptions, 'cfn' | 'stack'>): Promise<Date | undefined> {
  const { sdk, client } = opts.cfn;
  try {
    const res = await client.send(new sdk.DescribeStackEventsCommand({ StackName: opts.stack }));
    return res.StackEvents?.[0]?.Timestamp;
  } catch {
    return undefined;
  }
}

async function newEvents(o: StackWaitOptions, seen: Set<string>): Promise<EventLine[]> {
  const { sdk, client } = o.cfn;
  const found: EventLine[] = [];
  let token: string | undefined;
  for (let page = 0; page < 20; page++) {
    const res = await client.send(new sdk.DescribeStackEventsCommand({ StackName: o.stack, ...(token ? { NextToken: token } : {}) }));
    let reachedOld = false;
    for (const e of res.StackEvents ?? []) {
      const id = e.EventId ?? `${e.LogicalResourceId}/${e.ResourceStatus}/${String(e.Timestamp)}`;
      const time = e.Timestamp ?? new Date(0);
      if (seen.has(id) || (o.after !== undefined && time <= o.after)) {
        reachedOld = true;
        break;
      }
      const line: EventLine = {
        id,
        time,
        logicalId: e.LogicalResourceId ?? '?',
        type: e.ResourceType ?? '?',
        status: String(e.ResourceStatus ?? '?'),
      };
      if (e.ResourceStatusReason) line.reason = e.ResourceStatusReason;
      found.push(line);
    }
    token = res.NextToken;
    if (reachedOld || !token) break;
  }
  return found.reverse(); // oldest first
}

function formatEvent(e: EventLine): string {
  const t = e.time.toISOString().slice(11, 19);
  return `  ${t}  ${e.status.padEnd(22)} ${e.logicalId} (${e.type})${e.reason ? ` — ${e.reason}` : ''}`;
}

/** Current status, or 'GONE' when the stack no longer exists. */
async function stackStatus(o: StackWaitOptions): Promise<{ status: string; reason?: string }> {
  const { sdk, client } = o.cfn;
  try {
    const res = await client.send(new sdk.DescribeStacksCommand({ StackName: o.stack }));
    const s = res.Stacks?.[0];
    if (s === undefined) return { status: 'GONE' };
    return s.StackStatusReason ? { status: String(s.StackStatus), reason: s.StackStatusReason } : { status: String(s.StackStatus) };
  } catch (err) {
    if (/does not exist/i.test(sdkErrorText(err))) return { status: 'GONE' };
    throw err;
  }
}

/**
 * Wait for the stack to leave every *_IN_PROGRESS state. Resolves when it reached
 * `<goal>_COMPLETE` (or, for DELETE, is gone).
 * @throws AwsError listing the failed events when it ended in any other state.
 * @throws TimeoutError when `timeoutMs` passed first; the message says what was awaited.
 */
export async function waitForStack(o: StackWaitOptions): Promise<void> {
  const target = `${o.goal}_COMPLETE`;
  const deadline = Date.now() + o.timeoutMs;
  const seen = new Set<string>();
  const failed: EventLine[] = [];
  let last = '';
  for (;;) {
    const st = await awsCall(`DescribeStacks of '${o.stackName}'`, () => stackStatus(o));
    if (st.status !== 'GONE') {
      const events = await awsCall(`DescribeStackEvents of '${o.stackName}'`, () => newEvents(o, seen));
      for (const e of events) {
        seen.add(e.id);
        out(formatEvent(e));
        if (e.status.endsWith('_FAILED')) failed.push(e);
      }
    }
    if (st.status !== last) {
      out(`stack ${o.stackName}: ${st.status === 'GONE' ? 'deleted' : st.status}`);
      last = st.status;
    }
    const done = st.status === 'GONE' || !st.status.endsWith('_IN_PROGRESS');
    if (done) {
      if (st.status === target || (o.goal === 'DELETE' && st.status === 'GONE')) return;
      const lines = failed.map((e) => `  ${e.logicalId} (${e.type}) ${e.status}: ${e.reason ?? 'no reason given'}`);
      throw new AwsError(
        `stack '${o.stackName}' ended ${st.status === 'GONE' ? 'deleted' : st.status}, not ${target}` +
          `${st.reason ? ` (${st.reason})` : ''}` +
          (lines.length ? `; failed events:\n${lines.join('\n')}` : '; no failed events were reported'),
      );
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new TimeoutError(
        `timed out after ${+(o.timeoutMs / 1000).toFixed(1)} s waiting for stack '${o.stackName}' ` +
          `to reach ${target} (last status ${st.status}); it may still finish — see 'riots batch outputs'`,
      );
    }
    await sleep(Math.min(o.pollMs, left));
  }
}
