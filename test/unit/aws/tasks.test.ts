/**
 * The line riots gives on an ECS task (in errors that end a run): status, stop code and reason,
 * exit code (137 explained), and the CloudWatch stream of its output where the task definition
 * sends it there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { taskLogsOf, taskStatusText } from '../../../src/aws/tasks.js';

const def = {
  containerDefinitions: [
    { name: 'side', logConfiguration: { logDriver: 'json-file', options: {} } },
    {
      name: 'worker',
      logConfiguration: { logDriver: 'awslogs' as const, options: { 'awslogs-group': '/riots/RIOS/ecs-workers', 'awslogs-stream-prefix': 'riots' } },
    },
  ],
};

test('a stopped task: stop code, reason, exit code 137 explained, and its log stream', () => {
  const logs = taskLogsOf(def as never, 'worker');
  assert.deepEqual(logs, { group: '/riots/RIOS/ecs-workers', prefix: 'riots', container: 'worker' });
  const line = taskStatusText(
    {
      taskArn: 'arn:aws:ecs:r:1:task/c/0123abcd',
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      containers: [{ exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' }],
    },
    logs,
  );
  assert.equal(
    line,
    'STOPPED; stopCode: EssentialContainerExited; stoppedReason: Essential container in task exited; ' +
      'exit code 137 (killed: on Fargate usually out of memory, with nothing in the log; give the task more memory); ' +
      'reason: OutOfMemoryError: Container killed due to memory usage; log: CloudWatch group /riots/RIOS/ecs-workers, stream riots/worker/0123abcd',
  );
  assert.equal(
    taskStatusText({ taskArn: 'arn:x/t1', lastStatus: 'STOPPED', containers: [{ exitCode: 1 }] }),
    'STOPPED; exit code 1',
    'no logs known: no log part',
  );
  assert.equal(taskLogsOf(def as never, 'side'), undefined, 'a container not logging to CloudWatch has no stream');
  assert.equal(taskLogsOf(undefined, 'worker'), undefined);
});
