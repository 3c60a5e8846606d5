/**
 * The AWS region riots uses, by one rule for every command, apply() and `riots batch local`:
 * `--region`, else RIOS_AWSBATCH_REGION (RIOS's name), else AWS_REGION, else AWS_DEFAULT_REGION
 * (which the AWS SDK v3 itself ignores), else the profile's region, which the SDK finds itself
 * (src/aws/clients.ts resolveRegion names it).
 */

/** The environment variable that names the region of the riots stack (as in RIOS). */
export const REGION_ENV = 'RIOS_AWSBATCH_REGION';

/** The variables that name a region, in the order riots reads them (after --region). */
export const REGION_VARIABLES = [REGION_ENV, 'AWS_REGION', 'AWS_DEFAULT_REGION'] as const;

/** The region given, else the first of {@link REGION_VARIABLES} set; undefined leaves it to the profile. */
export function batchRegion(region?: string): string | undefined {
  if (region !== undefined && region !== '') return region;
  for (const name of REGION_VARIABLES) {
    const v = process.env[name];
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}
