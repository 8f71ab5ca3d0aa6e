/**
 * The kubernetes target: `kubectl rollout undo` of a Deployment to an explicit revision, then `kubectl
 * rollout status`; and the kubectl it runs, from PATH or installed checksum-verified into the tool cache.
 */
import { chmod, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tc from '@actions/tool-cache';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logging.js';
import { displayCommand, download, findOnPath, runTool, sha256Of } from '../runtime/tools.js';
import { ANNOTATIONS, auditAnnotations } from './kube-api.js';
import type { RollbackContext, RollbackOutcome, RollbackTarget } from './target.js';

export interface KubernetesTargetOptions {
  /** The kubectl to run: a path, or a name looked up on PATH. */
  kubectl: string;
  namespace?: string;
  deployment: string;
  /** The revision to go back to; the one before the current by default. */
  revision?: number;
  context?: string;
  kubeconfig?: string;
}

const REVISION = 'deployment.kubernetes.io/revision';
// Going back to revision N re-numbers N's ReplicaSet as the newest revision and remembers N here.
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
const TEMPLATE_HASH = 'pod-template-hash';
const COMMAND_TIMEOUT_MS = 120_000;
// kubectl and helm enforce their own --timeout; ours only catches one that hangs past it.
const WAIT_GRACE_MS = 30_000;

interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec?: { containers?: { name: string; image: string }[] };
}

interface Workload {
  metadata: {
    name: string;
    uid: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    ownerReferences?: { uid: string }[];
  };
  spec: { replicas?: number; selector?: { matchLabels?: Record<string, string> }; template: PodTemplate };
  status?: { readyReplicas?: number };
}

/** One ReplicaSet of the Deployment: a revision it can go back to. */
interface Revision {
  revision: number;
  /** Earlier numbers of this same template. */
  history: number[];
  hash: string;
  images: string;
}

export function kubernetesTarget(options: KubernetesTargetOptions): RollbackTarget {
  if (!options.deployment) throw new ConfigurationError('is required', 'input "deployment"');
  checkRevision(options.revision);
  const ref = `deployment/${options.deployment}`;
  const scope = [
    ...(options.namespace ? ['--namespace', options.namespace] : []),
    ...(options.context ? ['--context', options.context] : []),
    ...(options.kubeconfig ? ['--kubeconfig', options.kubeconfig] : []),
  ];
  const kubectl = (args: string[], timeoutMs = COMMAND_TIMEOUT_MS) =>
    runTool(options.kubectl, [...args, ...scope], timeoutMs);
  const show = (args: string[]) => displayCommand(basename(options.kubectl), [...args, ...scope]);

  const readDeployment = async () =>
    JSON.parse(await kubectl(['get', 'deployment', options.deployment, '-o', 'json'])) as Workload;

  async function readRevisions(deployment: Workload): Promise<Revision[]> {
    const labels = Object.entries(deployment.spec.selector?.matchLabels ?? {});
    const selector = labels.map(([k, v]) => `${k}=${v}`).join(',');
    const list = JSON.parse(
      await kubectl(['get', 'replicasets', ...(selector ? ['-l', selector] : []), '-o', 'json']),
    ) as { items: Workload[] };
    // The selector can match another owner's ReplicaSets; only this Deployment's are its history.
    return list.items
      .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.uid === deployment.metadata.uid))
      .map(toRevision)
      .filter((r): r is Revision => r !== undefined);
  }

  /** `rollout status` within the timeout; a failure says what was done and that a re-run only waits. */
  async function waitForRollout(ctx: RollbackContext, to: string): Promise<string> {
    const seconds = Math.max(1, Math.ceil(ctx.timeoutMs / 1000));
    const status = ['rollout', 'status', ref, `--timeout=${seconds}s`];
    if (ctx.dryRun) return show(status);
    try {
      await kubectl(status, ctx.timeoutMs + WAIT_GRACE_MS);
    } catch (e) {
      throw new ConfigurationError(
        `${ref} was rolled back to ${to}, but the rollout did not complete within ${seconds} s ` +
          `(${(e as Error).message}). A second run waits again without undoing twice.`,
      );
    }
    return show(status);
  }

  async function rollback(ctx: RollbackContext): Promise<RollbackOutcome> {
    const deployment = await readDeployment();
    const revisions = await readRevisions(deployment);
    const annotations = deployment.metadata.annotations ?? {};
    const current = revisions.find((r) => String(r.revision) === annotations[REVISION]);
    if (!current) {
      throw new ConfigurationError(
        `${ref} has no ReplicaSet for its revision ${annotations[REVISION] ?? '(none)'}; has it rolled out yet?`,
      );
    }
    const before = state(deployment, current);
    // The mark names the template we restored: revision numbers change on every undo, the hash does not.
    const markedByUs = annotations[ANNOTATIONS.to] === current.hash;
    const already = async (): Promise<RollbackOutcome> => {
      ctx.logger.info(
        `${ref} already serves ${describe(current)}: nothing to roll back, checking it is ready`,
      );
      // A run that died while waiting left the undo done: this one only waits for it.
      const steps = ctx.dryRun ? [] : [await waitForRollout(ctx, describe(current))];
      const from = markedByUs ? (annotations[ANNOTATIONS.from] ?? describe(current)) : describe(current);
      const after = ctx.dryRun ? before : state(await readDeployment(), current);
      return {
        rolledBack: false,
        alreadyRolledBack: true,
        from,
        to: describe(current),
        steps,
        before,
        after,
      };
    };
    // Without this, a second run would take the bad revision for "the previous one" and go back to it.
    if (options.revision === undefined && markedByUs) return already();

    const target =
      options.revision === undefined
        ? previousOf(current, revisions)
        : byNumber(options.revision, revisions, ref);
    if (!target) {
      throw new ConfigurationError(
        `${ref} has no revision before ${describe(current)}, so there is nothing to roll back to ` +
          '(old ReplicaSets are kept up to spec.revisionHistoryLimit)',
      );
    }
    if (target.hash === current.hash) return already();

    const from = describe(current);
    const to = describe(target);
    const undo = ['rollout', 'undo', ref, `--to-revision=${target.revision}`];
    const mark = Object.entries(auditAnnotations(ctx, from, target.hash)).map(([k, v]) => `${k}=${v}`);
    const annotate = ['annotate', ref, ...mark, '--overwrite'];

    if (ctx.dryRun) {
      await kubectl([...undo, '--dry-run=server']);
      await kubectl([...annotate, '--dry-run=server']);
      ctx.logger.info(
        `The API server accepted a server-side dry run of the undo to ${to} and of the annotation`,
      );
      const steps = [show(undo), show(annotate), await waitForRollout(ctx, to)];
      const after = {
        revision: `new, restoring ${target.revision}`,
        template: target.hash,
        images: target.images,
      };
      return { rolledBack: false, alreadyRolledBack: false, from, to, steps, before, after };
    }

    ctx.logger.info(`Rolling ${ref} back from ${from} to ${to}`);
    await kubectl(undo);
    // Marked straight after the undo, not before: `rollout undo` replaces the Deployment's annotations with
    // the target ReplicaSet's. And not after the wait, the step a run is most likely to die in.
    await kubectl(annotate);
    const steps = [show(undo), show(annotate), await waitForRollout(ctx, to)];
    const now = await readDeployment();
    const restored = (await readRevisions(now)).find((r) => r.hash === target.hash) ?? target;
    return {
      rolledBack: true,
      alreadyRolledBack: false,
      from,
      to,
      steps,
      before,
      after: state(now, restored),
    };
  }

  return { name: `kubernetes ${ref}`, rollback };
}

function checkRevision(revision: number | undefined): void {
  if (revision !== undefined && !(Number.isInteger(revision) && revision > 0)) {
    throw new ConfigurationError(`${revision} is not a revision number (1 or more)`, 'input "revision"');
  }
}

function toRevision(rs: Workload): Revision | undefined {
  const annotations = rs.metadata.annotations ?? {};
  const revision = Number(annotations[REVISION]);
  if (!Number.isInteger(revision) || revision <= 0) return undefined;
  return {
    revision,
    history: (annotations[REVISION_HISTORY] ?? '').split(',').filter(Boolean).map(Number),
    hash: rs.metadata.labels?.[TEMPLATE_HASH] ?? rs.metadata.name,
    images: images(rs.spec.template),
  };
}

function previousOf(current: Revision, revisions: Revision[]): Revision | undefined {
  return revisions
    .filter((r) => r.revision < current.revision && r.hash !== current.hash)
    .sort((a, b) => b.revision - a.revision)[0];
}

/** A revision by the number the user knows it by, also after an undo has re-numbered it. */
function byNumber(wanted: number, revisions: Revision[], ref: string): Revision {
  const found = revisions.find((r) => r.revision === wanted || r.history.includes(wanted));
  if (found) return found;
  const known = revisions.map((r) => r.revision).sort((a, b) => a - b);
  throw new ConfigurationError(
    `${ref} has no revision ${wanted} (it has ${known.join(', ')})`,
    'input "revision"',
  );
}

function images(template: PodTemplate): string {
  return (template.spec?.containers ?? []).map((c) => `${c.name}=${c.image}`).join(', ');
}

function describe(revision: Revision): string {
  return `revision ${revision.revision} (${revision.images})`;
}

function state(deployment: Workload, revision: Revision): Record<string, string> {
  return {
    revision: String(revision.revision),
    template: revision.hash,
    images: images(deployment.spec.template),
    ready: `${deployment.status?.readyReplicas ?? 0}/${deployment.spec.replicas ?? 1}`,
  };
}

export interface ResolveKubectlOptions {
  /** e.g. 1.31.2 */
  version: string;
  /** A mirror with the dl.k8s.io layout, e.g. https://dl.k8s.io/release */
  baseUrl: string;
  /** Pinned checksums by platform ('linux/amd64'); without one, the published .sha256 beside the binary. */
  sha256?: Record<string, string>;
  logger: Logger;
}

/** kubectl from PATH, else from the tool cache, else downloaded, checksum-verified and cached. */
export async function resolveKubectl(options: ResolveKubectlOptions): Promise<string> {
  const { logger } = options;
  const exe = process.platform === 'win32' ? 'kubectl.exe' : 'kubectl';
  const onPath = findOnPath(exe);
  if (onPath) {
    logger.info(`Using ${onPath} (on PATH)`);
    return onPath;
  }
  const version = options.version.trim().replace(/^v/, '');
  if (!/^\d+\.\d+\.\d+$/.test(version)) {
    throw new ConfigurationError(
      `"${options.version}" is not a kubectl version like 1.31.2`,
      'input "kubectl-version"',
    );
  }
  // @actions/tool-cache reads both from process.env itself.
  if (!process.env.RUNNER_TOOL_CACHE || !process.env.RUNNER_TEMP) {
    throw new ConfigurationError(
      'kubectl is not on PATH, and outside a runner (RUNNER_TOOL_CACHE and RUNNER_TEMP unset) mlgate does not install it: install kubectl',
    );
  }
  const cached = tc.find('kubectl', version);
  if (cached) {
    logger.info(`Using kubectl ${version} from the tool cache`);
    return join(cached, exe);
  }
  const platform = kubectlPlatform();
  const url = `${options.baseUrl.replace(/\/+$/, '')}/v${version}/bin/${platform}/${exe}`;
  const expected = (options.sha256?.[platform] ?? (await publishedSha256(`${url}.sha256`))).toLowerCase();
  logger.info(`Downloading kubectl ${version} for ${platform} from ${url}`);
  const file = await download(url, 'input "kubectl-base-url"');
  const actual = await sha256Of(file);
  if (actual !== expected) {
    await rm(file, { force: true });
    throw new ConfigurationError(
      `the kubectl downloaded from ${url} has sha256 ${actual}, not the expected ${expected}: it was deleted, not run`,
    );
  }
  // Executable only once verified, so that a tampered download is never runnable.
  await chmod(file, 0o755);
  const dir = await tc.cacheFile(file, exe, 'kubectl', version);
  await rm(file, { force: true });
  logger.info(`kubectl ${version} verified (sha256 ${actual}) and cached`);
  return join(dir, exe);
}

/** The os/arch pair of dl.k8s.io's layout for this machine. */
export function kubectlPlatform(): string {
  const os = ({ linux: 'linux', darwin: 'darwin', win32: 'windows' } as Record<string, string>)[
    process.platform
  ];
  const arch = (
    { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>
  )[process.arch];
  if (!os || !arch) {
    throw new ConfigurationError(
      `kubectl is not published for ${process.platform}/${process.arch}: install it on PATH`,
    );
  }
  return `${os}/${arch}`;
}

async function publishedSha256(url: string): Promise<string> {
  const file = await download(url, 'input "kubectl-base-url"');
  const text = (await readFile(file, 'utf8')).trim();
  await rm(file, { force: true });
  const digest = text.split(/\s+/)[0];
  if (!/^[0-9a-f]{64}$/i.test(digest)) throw new ConfigurationError(`${url} does not hold a sha256 checksum`);
  return digest;
}
