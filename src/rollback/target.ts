import type { Logger } from '../logging.js';
export interface RollbackContext {
  dryRun: boolean; // say exactly what would be done (server-side dry-run where the target has one), change nothing
  reason: string; // carried into the audit trail (annotations, descriptions)
  runUrl?: string; // the GitHub run that did it
  timeoutMs: number; // wait for the rollback to take
  logger: Logger;
}
export interface RollbackOutcome {
  rolledBack: boolean; // false for dry-run and when already rolled back
  alreadyRolledBack: boolean; // idempotent second run: nothing to do
  from: string; // what served before (revision, image, version)
  to: string; // what serves after (or would)
  steps: string[]; // what was done or would be, in order (e.g. the kubectl command lines, shell-quoted for display only)
  before: Record<string, string>; // state shown in the job summary
  after: Record<string, string>;
}
export interface RollbackTarget {
  readonly name: string;
  rollback(ctx: RollbackContext): Promise<RollbackOutcome>;
}
