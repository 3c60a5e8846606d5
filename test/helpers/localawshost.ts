/**
 * A process that hosts the local AWS endpoint and dies without closing it, for the test that its
 * job processes go with it. It starts the endpoint (main image: DIR/Dockerfile), creates the
 * Batch stack, submits two `hang` jobs that write their pids to DIR/h0.json and DIR/h1.json,
 * prints `READY <stateDir>` once both have, then ends as told: `throw` (an uncaught exception)
 * or `exit` (process.exit(3)).
 * usage: node --import tsx test/helpers/localawshost.ts DIR REGION throw|exit
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SubmitJobCommand } from '@aws-sdk/client-batch';
import { startLocalAws } from '../../src/aws/local/server.js';
import { clients, createBatchStack, waitFor } from './localaws.js';

const [dir, region, how] = process.argv.slice(2) as [string, string, string];
const aws = await startLocalAws({ region, startDelaySeconds: 0.05, stackDelaySeconds: 0.01, mainDockerfile: join(dir, 'Dockerfile') });
await createBatchStack(aws);
const { batch } = clients(aws.url, region);
const outs = [0, 1].map((i) => join(dir, `h${i}.json`));
for (const out of outs)
  await batch.send(
    new SubmitJobCommand({
      jobName: 'h',
      jobQueue: 'riosJobQueueMain',
      jobDefinition: 'riosJobDefinitionMain',
      containerOverrides: { command: ['hang', out] },
    }),
  );
await waitFor('both jobs to write their pids', async () => outs.every((o) => existsSync(o)), Boolean);
process.stdout.write(`READY ${aws.stateDir}\n`);
if (how === 'exit') process.exit(3);
setImmediate(() => {
  throw new Error('an error elsewhere in the program');
});
