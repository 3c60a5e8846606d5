/**
 * The SDK clients' loading: the SDK's warning about the Node versions of its future releases is
 * quiet while the pinned SDK supports this Node, and the user's own setting of its switch wins.
 * Each case is a fresh process, since the SDK warns once per process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { REPO_ROOT } from '../../helpers/root.js';
import { NODE_WARNING_ENV } from '../../../src/aws/clients.js';

function makeClients(env: Record<string, string | undefined>): string {
  const script = "const m = await import('./src/aws/clients.ts'); await m.batch('us-east-1'); await m.ecs('us-east-1'); await m.cloudFormation('us-east-1');";
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    env: { ...process.env, [NODE_WARNING_ENV]: undefined, ...env },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

test("no NodeVersionSupportWarning while the pinned SDK supports this Node; the user's switch wins", () => {
  const major = Number(process.versions.node.split('.')[0]);
  assert.doesNotMatch(makeClients({}), /NodeVersionSupportWarning/);
  // on Node < 22 the SDK warns when the user asks for it (its switch is 'true' or not)
  if (major < 22) assert.match(makeClients({ [NODE_WARNING_ENV]: 'false' }), /NodeVersionSupportWarning/);
  else console.log(`# Node ${major}: the SDK has no warning to show; the user's switch is not exercised`);
});
