/** The region rule: --region, RIOS_AWSBATCH_REGION, AWS_REGION, AWS_DEFAULT_REGION, then the profile (undefined here). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REGION_VARIABLES, batchRegion } from '../../src/region.js';

test('the first of --region and the variables that is set, empty values skipped', () => {
  const saved = REGION_VARIABLES.map((v) => [v, process.env[v]] as const);
  try {
    for (const v of REGION_VARIABLES) delete process.env[v];
    assert.equal(batchRegion(), undefined);
    process.env.AWS_DEFAULT_REGION = 'd';
    assert.equal(batchRegion(), 'd');
    process.env.AWS_REGION = 'r';
    assert.equal(batchRegion(), 'r');
    process.env.RIOS_AWSBATCH_REGION = '';
    assert.equal(batchRegion(), 'r');
    process.env.RIOS_AWSBATCH_REGION = 'rios';
    assert.equal(batchRegion(), 'rios');
    assert.equal(batchRegion(''), 'rios');
    assert.equal(batchRegion('given'), 'given');
  } finally {
    for (const [v, val] of saved) {
      if (val === undefined) delete process.env[v];
      else process.env[v] = val;
    }
  }
});
