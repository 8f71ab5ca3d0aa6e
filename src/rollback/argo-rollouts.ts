/**
 * The argo-rollouts target: abort a Rollout the way `kubectl argo rollouts abort` does (a merge patch of
 * the status subresource), so that traffic and replicas go back to the stable ReplicaSet. An aborted
 * Rollout still has the new version in spec.template and reports Degraded; with `undo`, the stable
 * ReplicaSet's template is put back in spec.template as `kubectl argo rollouts undo` does, and the Rollout
 * becomes Healthy on the stable version.
 */
import { ConfigurationError } from '../errors.js';
import { ANNOTATIONS, auditAnnotations, type KubeApi, pollUntil, segment } from './kube-api.js';
import type { RollbackContext, RollbackOutcome, RollbackTarget } from './target.js';

export interface ArgoRolloutsOptions {
  namespace: string;
  rollout: string;
  /** Also put the stable template back in spec.template. */
  undo?: boolean;
  /** How often the status is read while waiting; default 2 s. */
  pollIntervalMs?: number;
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; [key: string]: unknown };
  spec?: { containers?: { name: string; image: string }[] };
  [key: string]: unknown;
}

interface Rollout {
  metadata: { uid: string; generation?: number; annotations?: Record<string, string> };
  spec: { template: PodTemplate };
  status?: {
    stableRS?: string;
    currentPodHash?: string;
    abort?: boolean;
    phase?: string;
    message?: string;
    observedGeneration?: string;
  };
}

interface ReplicaSet {
  metadata: { ownerReferences?: { uid: string }[] };
  spec: { template: PodTemplate };
}

// The label Argo Rollouts adds to each ReplicaSet's template; it must not go back into the Rollout's.
const HASH_LABEL = 'rollouts-pod-template-hash';

export function argoRolloutsTarget(api: KubeApi, options: ArgoRolloutsOptions): RollbackTarget {
  if (!options.rollout) throw new ConfigurationError('is required', 'input "rollout"');
  const ns = segment(options.namespace);
  const path = `/apis/argoproj.io/v1alpha1/namespaces/${ns}/rollouts/${segment(options.rollout)}`;
  const ref = `rollout/${options.rollout}`;
  const undo = options.undo ?? false;

  async function stableReplicaSet(rollout: Rollout, hash: string): Promise<ReplicaSet | undefined> {
    const selector = encodeURIComponent(`${HASH_LABEL}=${hash}`);
    const list = await api.get<{ items: ReplicaSet[] }>(
      `/apis/apps/v1/namespaces/${ns}/replicasets?labelSelector=${selector}`,
    );
    return list.items.find((rs) => rs.metadata.ownerReferences?.some((o) => o.uid === rollout.metadata.uid));
  }

  /** Waits for the controller to act on the patches; a failure says a re-run only waits. */
  async function settle(ctx: RollbackContext, stable: string): Promise<Rollout> {
    const settled = await pollUntil(
      async () => {
        const now = await api.get<Rollout>(path);
        return isSettled(now, stable, undo) ? now : undefined;
      },
      ctx.timeoutMs,
      options.pollIntervalMs ?? 2000,
    );
    if (!settled) {
      throw new ConfigurationError(
        `${ref} was ${undo ? 'aborted and its stable template put back' : 'aborted'}, but it did not settle on ` +
          `${stable} within ${Math.round(ctx.timeoutMs / 1000)} s. A second run waits again without patching twice.`,
      );
    }
    return settled;
  }

  async function rollback(ctx: RollbackContext): Promise<RollbackOutcome> {
    const rollout = await api.get<Rollout>(path);
    const status = rollout.status ?? {};
    const stable = status.stableRS;
    if (!stable) {
      throw new ConfigurationError(
        `${ref} has no stable ReplicaSet yet (status.stableRS): its first rollout has not finished, so there is nothing to roll back to`,
      );
    }
    const stableRs = await stableReplicaSet(rollout, stable);
    const from = `${status.currentPodHash} (${images(rollout.spec.template)})`;
    const to = `${stable} (${stableRs ? images(stableRs.spec.template) : 'stable'})`;
    const before = state(rollout);
    const annotations = rollout.metadata.annotations ?? {};
    const already = async (): Promise<RollbackOutcome> => {
      ctx.logger.info(`${ref} is already ${undo ? 'back on' : 'aborted to'} its stable ReplicaSet ${stable}`);
      // A run that died while waiting left the patches done: this one only waits for the controller.
      const after = ctx.dryRun ? before : state(await settle(ctx, stable));
      const marked = annotations[ANNOTATIONS.from] ?? from;
      return { rolledBack: false, alreadyRolledBack: true, from: marked, to, steps: [], before, after };
    };

    if (status.currentPodHash === stable) {
      if (annotations[ANNOTATIONS.to] === stable) return already();
      throw new ConfigurationError(
        `${ref} is fully promoted: its current pods are its stable ReplicaSet ${stable}, so there is no update to ` +
          'abort and nothing to roll back to. To go back to an older version, deploy that version.',
      );
    }
    if (status.abort && !undo) return already();

    const mark = { metadata: { annotations: auditAnnotations(ctx, from, stable) } };
    const abort = { status: { abort: true } };
    const patches: { path: string; body: unknown; type: 'merge' | 'json' }[] = [
      // Marked first: should this run stop half way, the next one still knows the rollback is under way.
      { path, body: mark, type: 'merge' },
      ...(status.abort ? [] : [{ path: `${path}/status`, body: abort, type: 'merge' as const }]),
    ];
    if (undo) {
      if (!stableRs) {
        throw new ConfigurationError(
          `the stable ReplicaSet ${stable} of ${ref} was not found, so its template cannot be put back; without undo the rollout is only aborted`,
        );
      }
      const template = structuredClone(stableRs.spec.template);
      delete template.metadata?.labels?.[HASH_LABEL];
      patches.push({
        path,
        body: [{ op: 'replace', path: '/spec/template', value: template }],
        type: 'json',
      });
    }
    const steps = patches.map((p) => api.describePatch(p.path, p.body, p.type));

    for (const p of patches) await api.patch(p.path, p.body, { type: p.type, dryRun: ctx.dryRun });
    if (ctx.dryRun) {
      ctx.logger.info(`The API server accepted a server-side dry run of ${patches.length} patches of ${ref}`);
      const settled: Record<string, string> = undo
        ? { current: stable, phase: 'Healthy' }
        : { abort: 'true', phase: 'Degraded' };
      const after = { ...before, ...settled };
      return { rolledBack: false, alreadyRolledBack: false, from, to, steps, before, after };
    }

    const settled = await settle(ctx, stable);
    return { rolledBack: true, alreadyRolledBack: false, from, to, steps, before, after: state(settled) };
  }

  return { name: `argo-rollouts ${ref}`, rollback };
}

/**
 * Aborted: the controller reports it (phase Degraded, "RolloutAborted"). Undone: the current pods are the
 * stable ones and the rollout is Healthy, as observed for the latest spec.
 */
function isSettled(rollout: Rollout, stable: string, undo: boolean): boolean {
  const s = rollout.status ?? {};
  const observed =
    s.observedGeneration === undefined || s.observedGeneration === String(rollout.metadata.generation);
  if (undo) return observed && s.currentPodHash === stable && s.phase === 'Healthy';
  return s.abort === true && s.phase === 'Degraded' && (s.message ?? '').startsWith('RolloutAborted');
}

function images(template: PodTemplate): string {
  return (template.spec?.containers ?? []).map((c) => `${c.name}=${c.image}`).join(', ');
}

function state(rollout: Rollout): Record<string, string> {
  const s = rollout.status ?? {};
  return {
    phase: s.phase ?? '',
    stable: s.stableRS ?? '',
    current: s.currentPodHash ?? '',
    abort: String(s.abort ?? false),
    images: images(rollout.spec.template),
  };
}
