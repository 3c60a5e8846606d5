/**
 * Clean-up for a process that exits in the middle of a run.
 *
 * A run cleans up after itself as it unwinds: its error paths remove the temporary outputs, stop
 * the workers and remove the run's folder. Some exits skip that unwinding: an uncaught exception
 * elsewhere in the user's program, a call to process.exit(), a write to a closed pipe (a main
 * whose output is piped to `head`). Node still emits 'exit' for those, and at 'exit' only
 * synchronous work can run: removing files and folders, or running a command and waiting for it
 * (the AWS Batch launcher's job clean-up). Each holder of something temporary
 * registers a synchronous action for as long as it holds it; the actions left run once, at
 * 'exit'. (Worker processes need no action: they exit as soon as their connection to the main
 * closes, which the process's exit does. SIGKILL cannot be caught by anything.)
 */

const actions = new Set<() => void>();
let listening = false;

function runAll(): void {
  for (const action of [...actions]) {
    try {
      action();
    } catch {
      // one failed removal never stops the others
    }
  }
  actions.clear();
}

/**
 * Run `action` (synchronous) if the process exits before the returned function is called. Call
 * the returned function once the temporary thing is gone or kept on purpose.
 */
export function cleanUpAtExit(action: () => void): () => void {
  actions.add(action);
  if (!listening) {
    process.on('exit', runAll);
    listening = true;
  }
  return () => {
    actions.delete(action);
  };
}
