/**
 * Settings declared once (src/settings.ts): every worker kind's computeWorkerExtraParams table
 * refuses keys it does not know, with a "did you mean" and the valid keys, before any worker
 * starts; values get one message style; the docs list every key of every table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ConcurrencyStyle, type ComputeWorkerKind } from '../../src/concurrency.js';
import { createWorkerBackend, extraParamsOf } from '../../src/workers/index.js';
import type { RunDescription } from '../../src/workers/backend.js';
import { checkKnownKeys, didYouMean, parseSettings, seconds, text } from '../../src/settings.js';
import { CHANNEL_SETTINGS, channelBackendSettings } from '../../src/workers/pool/settings.js';
import { slurmSettings } from '../../src/workers/kinds/slurm.js';
import { ecsSettings } from '../../src/workers/kinds/ecs.js';

type Kind = Exclude<ComputeWorkerKind, 'CW_NONE'>;
const KINDS: Kind[] = ['CW_THREADS', 'CW_SUBPROC', 'CW_AWSBATCH', 'CW_ECS', 'CW_SLURM', 'CW_PBS'];

function runWith(kind: Kind, extra: Record<string, unknown>): RunDescription {
  return {
    concurrency: new ConcurrencyStyle({ computeWorkerKind: kind, numComputeWorkers: 1, numReadWorkers: 1, computeWorkerExtraParams: extra }),
  } as unknown as RunDescription;
}

test('every kind refuses an unknown computeWorkerExtraParams key, naming the nearest valid key and all of them', async () => {
  for (const kind of KINDS) {
    const keys = Object.keys(await extraParamsOf(kind));
    // a near-miss of one of its own keys, or of the channel's for kinds that have it
    const meant = kind === 'CW_THREADS' ? undefined : 'workerLostSeconds';
    await assert.rejects(createWorkerBackend(runWith(kind, { workerLostSecond: 60 })), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CONTROLS');
      assert.match(err.message, new RegExp(`computeWorkerExtraParams\\.workerLostSecond is not a setting of ${kind}`));
      if (meant) assert.match(err.message, /did you mean workerLostSeconds\?/);
      assert.match(err.message, new RegExp(`its settings: ${keys.length > 0 ? keys.join(', ') : 'none'}$`));
      return true;
    });
  }
  await assert.rejects(
    createWorkerBackend(runWith('CW_SLURM', { sbatchOption: '-p debug' })),
    /sbatchOption is not a setting of CW_SLURM \(did you mean sbatchOptions\?\)/,
  );
  await assert.rejects(
    createWorkerBackend(runWith('CW_PBS', { sbatchOptions: '-q x' })),
    /sbatchOptions is not a setting of CW_PBS \(did you mean qsubOptions\?\)/,
  );
  await assert.rejects(createWorkerBackend(runWith('CW_ECS', { capacityprovider: 'FARGATE_SPOT' })), /did you mean capacityProvider\?/);
  await assert.rejects(
    createWorkerBackend(runWith('CW_AWSBATCH', { totallyUnrelated: 1 })),
    (e: Error) => !/did you mean/.test(e.message) && /totallyUnrelated is not a setting/.test(e.message),
  );
});

test('values: one message style that says what was expected and what came (a string is shown as a string)', () => {
  assert.throws(() => channelBackendSettings({ heartbeatSeconds: '5' }), {
    code: 'CONTROLS',
    message: 'computeWorkerExtraParams.heartbeatSeconds must be a positive number of seconds (got the string "5")',
  });
  assert.throws(() => channelBackendSettings({ tasksPerWorker: 1.5 }), { message: /tasksPerWorker must be a positive whole number \(got 1\.5\)/ });
  assert.throws(() => channelBackendSettings({ workerLostSeconds: 4 }), { message: /workerLostSeconds \(4\) must be more than heartbeatSeconds \(5\)/ });
  assert.throws(() => channelBackendSettings({ channelPortRange: [50000, 30000] }), { message: /channelPortRange must be \[lo, hi\]/ });
  assert.throws(() => slurmSettings({ sbatchOptions: ['--job-name=x'] }), { message: /sbatchOptions may not set --job-name/ });
  assert.throws(() => slurmSettings({ pollSeconds: 0 }), { message: /pollSeconds must be a positive number of seconds \(got 0\)/ });
  assert.throws(() => ecsSettings({ capacityProvider: 'SPOT' }), {
    message: /capacityProvider must be one of 'FARGATE', 'FARGATE_SPOT' \(got the string "SPOT"\)/,
  });
  assert.throws(() => ecsSettings({ taskEnvironment: { RIOTS_CHANNEL_KEY: 'x' } }), {
    message: 'computeWorkerExtraParams.taskEnvironment may not set RIOTS_CHANNEL_KEY (riots sets it)',
  });
  // defaults and derived defaults
  const s = channelBackendSettings({ heartbeatSeconds: 1 });
  assert.equal(s.workerLostSeconds, 15);
  assert.equal(s.workerTimeoutSeconds, 15);
  assert.equal(s.lostWorkerDrainSeconds, 2);
  assert.deepEqual(slurmSettings({ sbatchOptions: "-p 'long queue' --mem=4G" }).submitOptions, ['-p', 'long queue', '--mem=4G']);
  assert.deepEqual(ecsSettings({ subnets: 'subnet-a, subnet-b' }).placement, { subnets: ['subnet-a', 'subnet-b'] });
});

test('parseSettings and checkKnownKeys on their own', () => {
  const table = { waitSeconds: seconds(3, 'a wait'), name: text({ meaning: 'a name' }) };
  assert.deepEqual(parseSettings(table, {}, 'opts'), { waitSeconds: 3, name: undefined });
  assert.throws(() => parseSettings(table, { nmae: 'x' }, 'opts'), {
    message: 'opts.nmae is not a setting of opts (did you mean name?); its settings: waitSeconds, name',
  });
  assert.deepEqual(parseSettings(table, { nmae: 'x' }, 'opts', { strict: false }), { waitSeconds: 3, name: undefined });
  assert.throws(() => checkKnownKeys({ a: 1 }, [], 'x', 'CW_THREADS'), { message: 'x.a is not a setting of CW_THREADS; its settings: none' });
  assert.equal(didYouMean('WORKERLOSTSECONDS', ['workerLostSeconds']), 'workerLostSeconds');
  assert.equal(didYouMean('pollSecs', ['pollSeconds', 'logDir']), 'pollSeconds');
  assert.equal(didYouMean('xyz', ['pollSeconds', 'logDir']), undefined);
});

test('the docs list every computeWorkerExtraParams key of every kind in a table row', async () => {
  const docOf: Record<Kind, string> = {
    CW_THREADS: 'docs/concurrency.md',
    CW_SUBPROC: 'docs/concurrency.md',
    CW_AWSBATCH: 'docs/aws-batch.md',
    CW_ECS: 'docs/ecs.md',
    CW_SLURM: 'docs/slurm.md',
    CW_PBS: 'docs/pbs.md',
  };
  const channelKeys = new Set(Object.keys(CHANNEL_SETTINGS));
  const missing: string[] = [];
  for (const kind of KINDS) {
    const doc = fs.readFileSync(docOf[kind], 'utf8');
    const rows = doc.split('\n').filter((l) => l.startsWith('| '));
    for (const k of Object.keys(await extraParamsOf(kind))) {
      // the channel's keys are documented once, in docs/concurrency.md
      const where = channelKeys.has(k)
        ? fs
            .readFileSync('docs/concurrency.md', 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('| '))
        : rows;
      if (!where.some((l) => l.split('|')[1]?.includes(`\`${k}\``)))
        missing.push(`${kind}: ${k} (${channelKeys.has(k) ? 'docs/concurrency.md' : docOf[kind]})`);
    }
  }
  assert.deepEqual(missing, []);
});

test('controls, per-image controls and concurrency refuse unknown keys the same way', async () => {
  const { ApplierControls } = await import('../../src/controls.js');
  assert.throws(() => new ApplierControls({ windowXsize: 512 } as never), {
    code: 'CONTROLS',
    message: /^controls\.windowXsize is not a setting of controls \(did you mean windowXSize\?\); its settings: windowXSize, /,
  });
  assert.throws(() => new ApplierControls({ images: { a: { statsIgnor: 0 } } } as never), {
    message: /^controls\.images\.a\.statsIgnor is not a setting of per-image controls \(did you mean statsIgnore\?\)/,
  });
  assert.throws(() => new ConcurrencyStyle({ numReadWorker: 2 } as never), {
    message: /^concurrency\.numReadWorker is not a setting of concurrency \(did you mean numReadWorkers\?\)/,
  });
});

test('apply() refuses an options key it does not know before it opens anything', async () => {
  const { apply } = await import('../../src/applier/apply.js');
  await assert.rejects(
    apply(() => undefined, { a: '/nonexistent.tif' }, {}, { othrArgs: {} } as never),
    {
      code: 'CONTROLS',
      message: 'apply options.othrArgs is not a setting of apply() (did you mean otherArgs?); its settings: otherArgs, controls, signal',
    },
  );
});

test('controls are declared as tables: every value checked, a string is shown as a string, defaults from the tables', async () => {
  const { ApplierControls, GLOBAL_SETTINGS, IMAGE_SETTINGS } = await import('../../src/controls.js');
  assert.throws(() => new ApplierControls({ windowXSize: '512' } as never), {
    code: 'CONTROLS',
    message: 'controls.windowXSize must be a positive whole number (got the string "512")',
  });
  assert.throws(() => new ApplierControls({ progress: 'yes' } as never), { message: 'controls.progress must be true or false (got the string "yes")' });
  assert.throws(() => new ApplierControls({ tempdir: '' }), { message: /controls\.tempdir must be a non-empty string/ });
  assert.throws(() => new ApplierControls({ referencePixgrid: { projection: '', transform: [0, 1], rows: 1, cols: 1 } as never }), {
    message: /controls\.referencePixgrid must be a pixel grid/,
  });
  assert.throws(() => new ApplierControls({ images: { a: { resampleMethod: 'nearest' as never } } }), {
    message: /^controls\.images\.a\.resampleMethod must be one of 'near', 'bilinear'/,
  });
  const c = new ApplierControls({ statsIgnore: 3, images: { a: { statsIgnore: null, driver: 'HFA' } } });
  assert.equal(c.get('statsIgnore', 'a'), null);
  assert.equal(c.get('statsIgnore', 'b'), 3);
  assert.equal(c.get('driver', 'a'), 'HFA');
  assert.equal(c.global.windowXSize, 256);
  assert.equal(c.global.progress, false);
  // every setting has a meaning for the docs
  for (const [k, s] of Object.entries({ ...GLOBAL_SETTINGS, ...IMAGE_SETTINGS })) assert.ok(s.meaning.length > 0, `${k} has no meaning`);
});
