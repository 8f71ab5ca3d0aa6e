/**
 * The helm target: `helm rollback` of a release to the revision before the deployed one, with --wait.
 * Helm's own history is the audit trail: every rollback is a new revision described "Rollback to N".
 */
import { basename } from 'node:path';
import { ConfigurationError } from '../errors.js';
import { displayCommand, runTool } from '../runtime/tools.js';
import type { RollbackContext, RollbackOutcome, RollbackTarget } from './target.js';

export interface HelmTargetOptions {
  /** The helm to run: a path, or a name looked up on PATH. */
  helm: string;
  release: string;
  namespace?: string;
  /** The revision to go back to; the newest superseded one before the deployed one by default. */
  revision?: number;
  kubeconfig?: string;
  context?: string;
}

/** One entry of `helm history -o json`. */
interface HelmRevision {
  revision: number;
  updated?: string;
  status: string;
  chart: string;
  app_version?: string;
  description?: string;
}

const COMMAND_TIMEOUT_MS = 120_000;
const WAIT_GRACE_MS = 30_000;
const ROLLBACK_DESCRIPTION = /^Rollback to (\d+)$/;

export function helmTarget(options: HelmTargetOptions): RollbackTarget {
  if (!options.release) throw new ConfigurationError('is required', 'input "release"');
  const { revision } = options;
  if (revision !== undefined && !(Number.isInteger(revision) && revision > 0)) {
    throw new ConfigurationError(`${revision} is not a revision number (1 or more)`, 'input "revision"');
  }
  const scope = [
    ...(options.namespace ? ['--namespace', options.namespace] : []),
    ...(options.context ? ['--kube-context', options.context] : []),
    ...(options.kubeconfig ? ['--kubeconfig', options.kubeconfig] : []),
  ];
  const helm = (args: string[], timeoutMs = COMMAND_TIMEOUT_MS) =>
    runTool(options.helm, [...args, ...scope], timeoutMs);
  const what = `helm release ${options.release}`;

  async function history(): Promise<{ all: HelmRevision[]; deployed: HelmRevision }> {
    const all = JSON.parse(await helm(['history', options.release, '-o', 'json'])) as HelmRevision[];
    const deployed = all.filter((r) => r.status === 'deployed').sort((a, b) => b.revision - a.revision)[0];
    if (!deployed) {
      const latest = [...all].sort((a, b) => b.revision - a.revision)[0];
      throw new ConfigurationError(
        `${what} has no deployed revision (the latest, ${latest?.revision ?? 'none'}, is ${latest?.status ?? 'missing'}), ` +
          'so there is no current release to roll back from',
      );
    }
    return { all, deployed };
  }

  async function rollback(ctx: RollbackContext): Promise<RollbackOutcome> {
    const { all, deployed } = await history();
    // A failed upgrade leaves helm's "deployed" on the revision before it while the cluster holds (part of)
    // the failed one: going back to the deployed revision is what restores the last good release.
    const newest = [...all].sort((a, b) => b.revision - a.revision)[0];
    const failed = newest.status === 'failed' && newest.revision > deployed.revision ? newest : undefined;
    const current = failed ?? deployed;
    const before = state(current);
    // The deployed revision says which revision it restored; a second run must not roll back from it.
    const restored = failed ? 0 : Number(ROLLBACK_DESCRIPTION.exec(deployed.description ?? '')?.[1]);
    const already = (): RollbackOutcome => {
      ctx.logger.info(
        `${what} already serves ${describe(deployed)} ("${deployed.description}"): nothing to do`,
      );
      // A rollback is a new revision, so the one just before it is what it replaced.
      const replaced = restored ? all.find((r) => r.revision === deployed.revision - 1) : undefined;
      const from = describe(replaced ?? deployed);
      return {
        rolledBack: false,
        alreadyRolledBack: true,
        from,
        to: describe(deployed),
        steps: [],
        before,
        after: before,
      };
    };
    if (restored && (revision === undefined || revision === restored)) return already();

    const byDefault = failed ? deployed : previousOf(deployed, all);
    const target = revision === undefined ? byDefault : all.find((r) => r.revision === revision);
    if (revision !== undefined && !target) {
      const known = all.map((r) => r.revision).sort((a, b) => a - b);
      throw new ConfigurationError(
        `${what} has no revision ${revision} (it has ${known.join(', ')})`,
        'input "revision"',
      );
    }
    if (!target) {
      throw new ConfigurationError(
        `${what} has no superseded revision before ${describe(deployed)}, so there is nothing to roll back to`,
      );
    }
    if (target.revision === current.revision) return already();

    const from = describe(current);
    const to = describe(target);
    const waitSeconds = Math.max(1, Math.ceil(ctx.timeoutMs / 1000));
    const command = [
      'rollback',
      options.release,
      String(target.revision),
      '--wait',
      '--timeout',
      `${waitSeconds}s`,
    ];
    const steps = [displayCommand(basename(options.helm), [...command, ...scope])];
    // helm rollback has no description flag: the reason lives in the job summary and the report.
    if (ctx.dryRun) {
      await helm([...command, '--dry-run'], ctx.timeoutMs + WAIT_GRACE_MS);
      ctx.logger.info(`helm accepted a dry run of the rollback to ${to}`);
      const after = {
        ...state(target),
        revision: `new, restoring ${target.revision}`,
        status: 'deployed',
        description: `Rollback to ${target.revision}`,
      };
      return { rolledBack: false, alreadyRolledBack: false, from, to, steps, before, after };
    }
    ctx.logger.info(`Rolling ${what} back from ${from} to ${to}`);
    await helm(command, ctx.timeoutMs + WAIT_GRACE_MS);
    const now = (await history()).deployed;
    if (now.description !== `Rollback to ${target.revision}`) {
      throw new ConfigurationError(
        `helm rollback finished, but the deployed revision of ${what} is ${describe(now)} ("${now.description}"), ` +
          `not a rollback to ${target.revision}`,
      );
    }
    return { rolledBack: true, alreadyRolledBack: false, from, to, steps, before, after: state(now) };
  }

  return { name: what, rollback };
}

function previousOf(deployed: HelmRevision, all: HelmRevision[]): HelmRevision | undefined {
  return all
    .filter((r) => r.revision < deployed.revision && r.status === 'superseded')
    .sort((a, b) => b.revision - a.revision)[0];
}

function describe(r: HelmRevision): string {
  return `revision ${r.revision} (${r.chart}${r.app_version ? `, app ${r.app_version}` : ''})`;
}

function state(r: HelmRevision): Record<string, string> {
  return {
    revision: String(r.revision),
    status: r.status,
    chart: r.chart,
    'app version': r.app_version ?? '',
    description: r.description ?? '',
  };
}
