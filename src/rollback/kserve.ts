/**
 * The kserve target: `spec.predictor.canaryTrafficPercent: 0` on an InferenceService, which pins all
 * traffic to the last revision rolled out before the current one (KServe's documented rollback), then a
 * wait until the status shows that revision at 100%.
 */
import { ConfigurationError } from '../errors.js';
import { auditAnnotations, type KubeApi, pollUntil, segment } from './kube-api.js';
import type { RollbackContext, RollbackOutcome, RollbackTarget } from './target.js';

export interface KServeOptions {
  namespace: string;
  service: string;
  /** How often the status is read while waiting; default 2 s. */
  pollIntervalMs?: number;
}

interface PredictorStatus {
  latestReadyRevision?: string;
  latestRolledoutRevision?: string;
  previousRolledoutRevision?: string;
  traffic?: { revisionName?: string; percent?: number; latestRevision?: boolean; tag?: string }[];
}

interface InferenceService {
  metadata: { annotations?: Record<string, string> };
  spec: { predictor: { canaryTrafficPercent?: number } };
  status?: { components?: { predictor?: PredictorStatus } };
}

// Named in the refusal: canary traffic needs Knative (serverless mode), raw deployments have no split.
const DEPLOYMENT_MODE = 'serving.kserve.io/deploymentMode';

export function kserveTarget(api: KubeApi, options: KServeOptions): RollbackTarget {
  if (!options.service) throw new ConfigurationError('is required', 'input "inference-service"');
  const path =
    `/apis/serving.kserve.io/v1beta1/namespaces/${segment(options.namespace)}` +
    `/inferenceservices/${segment(options.service)}`;
  const ref = `inferenceservice/${options.service}`;

  /** Waits until the status shows all traffic on `target`; a failure says a re-run only waits. */
  async function settle(ctx: RollbackContext, target: string): Promise<InferenceService> {
    const settled = await pollUntil(
      async () => {
        const now = await api.get<InferenceService>(path);
        return fullTraffic(now.status?.components?.predictor ?? {}) === target ? now : undefined;
      },
      ctx.timeoutMs,
      options.pollIntervalMs ?? 2000,
    );
    if (!settled) {
      throw new ConfigurationError(
        `${ref} has canaryTrafficPercent 0, but its status did not show 100% of traffic on ${target} within ` +
          `${Math.round(ctx.timeoutMs / 1000)} s. A second run changes nothing and waits again.`,
      );
    }
    return settled;
  }

  async function rollback(ctx: RollbackContext): Promise<RollbackOutcome> {
    const isvc = await api.get<InferenceService>(path);
    const mode = isvc.metadata.annotations?.[DEPLOYMENT_MODE];
    const predictor = isvc.status?.components?.predictor ?? {};
    if (!predictor.traffic?.length) {
      throw new ConfigurationError(
        `${ref} has no traffic split${mode ? ` (deploymentMode ${mode})` : ''}: canary rollback with ` +
          'canaryTrafficPercent needs the serverless (Knative) deployment mode',
      );
    }
    const serving = predictor.latestReadyRevision ?? '';
    const before = state(isvc);
    // During a canary the stable revision is the latest rolled out; once the canary took 100% it is the
    // rolled-out revision before it.
    const target =
      predictor.latestRolledoutRevision && predictor.latestRolledoutRevision !== serving
        ? predictor.latestRolledoutRevision
        : predictor.previousRolledoutRevision;

    if (isvc.spec.predictor.canaryTrafficPercent === 0) {
      ctx.logger.info(
        `${ref} already has canaryTrafficPercent 0: nothing to roll back, checking the traffic`,
      );
      // A run that died while waiting left the patch done: this one only waits for the traffic to move.
      const after = ctx.dryRun || !target ? before : state(await settle(ctx, target));
      const to = target ?? fullTraffic(predictor) ?? '';
      return { rolledBack: false, alreadyRolledBack: true, from: serving, to, steps: [], before, after };
    }
    if (!target) {
      throw new ConfigurationError(
        `${ref} has no revision rolled out before ${serving || 'its current one'}, so there is nothing to roll back to`,
      );
    }

    const patch = {
      metadata: { annotations: auditAnnotations(ctx, serving, target) },
      spec: { predictor: { canaryTrafficPercent: 0 } },
    };
    const steps = [api.describePatch(path, patch)];
    // One patch: the mark and the change land together or not at all.
    await api.patch(path, patch, { dryRun: ctx.dryRun });
    if (ctx.dryRun) {
      ctx.logger.info(`The API server accepted a server-side dry run of the patch of ${ref}`);
      const after = { ...before, canaryTrafficPercent: '0', traffic: `${target}=100%` };
      return { rolledBack: false, alreadyRolledBack: false, from: serving, to: target, steps, before, after };
    }
    const settled = await settle(ctx, target);
    return {
      rolledBack: true,
      alreadyRolledBack: false,
      from: serving,
      to: target,
      steps,
      before,
      after: state(settled),
    };
  }

  return { name: `kserve ${ref}`, rollback };
}

/** The revision that takes all the traffic (KServe may list one revision twice, tagged and untagged). */
function fullTraffic(predictor: PredictorStatus): string | undefined {
  const percent = new Map<string, number>();
  for (const t of predictor.traffic ?? []) {
    if (t.revisionName) percent.set(t.revisionName, (percent.get(t.revisionName) ?? 0) + (t.percent ?? 0));
  }
  return [...percent].find(([, p]) => p === 100)?.[0];
}

function state(isvc: InferenceService): Record<string, string> {
  const p = isvc.status?.components?.predictor ?? {};
  return {
    canaryTrafficPercent: String(isvc.spec.predictor.canaryTrafficPercent ?? 'unset'),
    traffic: (p.traffic ?? []).map((t) => `${t.revisionName}=${t.percent ?? 0}%`).join(', '),
    latestReadyRevision: p.latestReadyRevision ?? '',
    latestRolledoutRevision: p.latestRolledoutRevision ?? '',
    previousRolledoutRevision: p.previousRolledoutRevision ?? '',
  };
}
