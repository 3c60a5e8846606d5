/**
 * The id of one run: what tags its AWS jobs and tasks (riots-run-id) and names its cluster jobs,
 * so that a clean-up finds exactly its own. Unique across machines and time: the start time in
 * base 36 and 32 random bits.
 */
import { randomBytes } from 'node:crypto';

/** A new run id, `riots-<time>-<8 hex digits>`, or with RIOS's jobName `riots-<jobName>-<time>-<8 hex digits>`. */
export function newRunId(jobName?: string): string {
  return `riots-${jobName === undefined ? '' : `${jobName}-`}${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
