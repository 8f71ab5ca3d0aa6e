/**
 * rollback: put the previous good release back on the chosen target, verify it took, and record why.
 * Each target checks what there is to roll back to, is idempotent, and changes nothing in a dry-run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logging.js';
import { buildReport } from '../report/json.js';
import { argoRolloutsTarget } from '../rollback/argo-rollouts.js';
import { githubDeploymentTarget } from '../rollback/github-deployment.js';
import { helmTarget } from '../rollback/helm.js';
import { kserveTarget } from '../rollback/kserve.js';
import { KubeApi } from '../rollback/kube-api.js';
import { kubernetesTarget, resolveKubectl } from '../rollback/kubernetes.js';
import { mlflowTarget } from '../rollback/mlflow.js';
import type { RollbackTarget } from '../rollback/target.js';
import { webhookTarget } from '../rollback/webhook.js';
import type { Command } from '../runtime/command.js';
import { input, type RawInputs } from '../runtime/inputs.js';
import { renderRollback } from './rollback-summary.js';

const TARGETS = [
  'kubernetes',
  'argo-rollouts',
  'kserve',
  'helm',
  'github-deployment',
  'mlflow',
  'webhook',
] as const;
type TargetName = (typeof TARGETS)[number];

/** The inputs each target cannot do without. */
const REQUIRED: Record<TargetName, string[]> = {
  kubernetes: ['deployment'],
  'argo-rollouts': ['rollout'],
  kserve: ['inference-service'],
  helm: ['release'],
  'github-deployment': ['environment', 'github-token'],
  mlflow: ['tracking-uri', 'model-name', 'alias'],
  webhook: ['webhook-url', 'what'],
};

/** The inputs of the targets, as action.yml declares them. */
const TARGET_INPUTS = [
  'namespace',
  'deployment',
  'revision',
  'kubeconfig',
  'context',
  'kubectl-version',
  'kubectl-base-url',
  'kube-api-url',
  'kube-token',
  'kube-ca-file',
  'rollout',
  'undo',
  'inference-service',
  'release',
  'helm',
  'environment',
  'repository',
  'redeploy',
  'workflow',
  'workflow-inputs',
  'tracking-uri',
  'mlflow-token',
  'model-name',
  'alias',
  'version',
  'webhook-url',
  'webhook-secret',
  'what',
  'from',
  'to',
  'github-token',
];

export interface RollbackInputs {
  target: TargetName;
  dryRun: boolean;
  reason: string;
  timeoutMs: number;
  raw: RawInputs;
}

/** The reason as given, or read from a canary-gate report: "canary-gate: rollback (why)". */
function readReason(text: string): string {
  const path = text.trim();
  if (!/\.json$/i.test(path) || !existsSync(path)) return path;
  try {
    const report = JSON.parse(readFileSync(path, 'utf8'));
    const d = report.details ?? {};
    return d.decision
      ? `${report.command}: ${d.decision} (${d.reason})`
      : `${report.command}: ${report.passed ? 'passed' : 'failed'}`;
  } catch (e) {
    throw new ConfigurationError(`${path} is not a JSON report: ${(e as Error).message}`, 'input "reason"');
  }
}

export function readRollbackInputs(raw: RawInputs): RollbackInputs {
  const target = input.choice(raw, 'target', TARGETS);
  for (const name of REQUIRED[target]) {
    if (input.optional(raw, name) === undefined)
      throw new ConfigurationError(`is required for target ${target}`, `input "${name}"`);
  }
  // Every target's inputs are read now, once, so the action's inputs are all accounted for up front;
  // the chosen target's factory parses its own from this snapshot.
  const snapshot = new Map(TARGET_INPUTS.map((name) => [name, raw.get(name)]));
  return {
    target,
    dryRun: input.bool(raw, 'dry-run'),
    reason: readReason(raw.get('reason')),
    timeoutMs: input.duration(raw, 'timeout'),
    raw: { get: (name) => snapshot.get(name) ?? raw.get(name) },
  };
}

/** Lines of `name: value`, for workflow inputs. */
function pairs(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((l) => l.trim() !== '')
      .map((l, i) => {
        const colon = l.indexOf(':');
        if (colon <= 0)
          throw new ConfigurationError(`line ${i + 1} is not "name: value"`, 'input "workflow-inputs"');
        return [l.slice(0, colon).trim(), l.slice(colon + 1).trim()];
      }),
  );
}

async function targetFor(inputs: RollbackInputs, logger: Logger): Promise<RollbackTarget> {
  const raw = inputs.raw;
  const opt = (name: string) => input.optional(raw, name);
  const revision = opt('revision') === undefined ? undefined : input.int(raw, 'revision', 1);
  const cluster = {
    namespace: input.string(raw, 'namespace') || 'default',
    kubeconfig: opt('kubeconfig'),
    context: opt('context'),
  };
  const api = () =>
    opt('kube-api-url')
      ? KubeApi.fromServer({
          server: opt('kube-api-url')!,
          token: opt('kube-token'),
          caFile: opt('kube-ca-file'),
        })
      : KubeApi.fromKubeconfig(cluster.kubeconfig, cluster.context);
  switch (inputs.target) {
    case 'kubernetes':
      return kubernetesTarget({
        ...cluster,
        deployment: opt('deployment')!,
        revision,
        kubectl: await resolveKubectl({
          version: input.string(raw, 'kubectl-version'),
          baseUrl: input.string(raw, 'kubectl-base-url'),
          logger,
        }),
      });
    case 'helm':
      return helmTarget({
        ...cluster,
        helm: input.string(raw, 'helm') || 'helm',
        release: opt('release')!,
        revision,
      });
    case 'argo-rollouts':
      return argoRolloutsTarget(await api(), {
        namespace: cluster.namespace,
        rollout: opt('rollout')!,
        undo: input.bool(raw, 'undo'),
      });
    case 'kserve':
      return kserveTarget(await api(), { namespace: cluster.namespace, service: opt('inference-service')! });
    case 'github-deployment':
      return githubDeploymentTarget({
        apiUrl: process.env.GITHUB_API_URL || 'https://api.github.com',
        token: opt('github-token')!,
        repository: opt('repository') ?? process.env.GITHUB_REPOSITORY ?? '',
        environment: opt('environment')!,
        redeploy: input.choice(raw, 'redeploy', ['deployment', 'workflow'] as const),
        workflow: opt('workflow'),
        workflowInputs: pairs(raw.get('workflow-inputs')),
      });
    case 'mlflow':
      return mlflowTarget({
        trackingUri: opt('tracking-uri')!,
        token: opt('mlflow-token'),
        model: opt('model-name')!,
        alias: opt('alias')!,
        version: opt('version'),
      });
    case 'webhook':
      return webhookTarget({
        url: opt('webhook-url')!,
        secret: opt('webhook-secret'),
        what: opt('what')!,
        from: opt('from'),
        to: opt('to'),
      });
  }
}

/** The GitHub run that did it, for the audit trail. */
function runUrl(): string | undefined {
  const { GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID } = process.env;
  return GITHUB_SERVER_URL && GITHUB_REPOSITORY && GITHUB_RUN_ID
    ? `${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}`
    : undefined;
}

export const rollback: Command<RollbackInputs> = {
  name: 'rollback',
  title: 'Rollback',
  readInputs: readRollbackInputs,
  secrets: (raw) =>
    ['kube-token', 'mlflow-token', 'webhook-secret']
      .map((name) => raw.get(name))
      .filter((s) => s.trim() !== ''),
  async run(inputs, logger) {
    const target = await targetFor(inputs, logger);
    const outcome = await logger.group(
      `Rolling back (${inputs.target}${inputs.dryRun ? ', dry-run' : ''})`,
      () =>
        target.rollback({
          dryRun: inputs.dryRun,
          reason: inputs.reason || 'rolled back by mlgate',
          runUrl: runUrl(),
          timeoutMs: inputs.timeoutMs,
          logger,
        }),
    );
    const state = inputs.dryRun
      ? 'dry-run: nothing changed'
      : outcome.alreadyRolledBack
        ? 'already rolled back: nothing to do'
        : 'rolled back and verified';
    logger.info(`${inputs.target}: ${outcome.from} -> ${outcome.to} (${state})`);
    const report = buildReport({
      command: 'rollback',
      gates: [
        {
          expression: 'the rollback took',
          metric: 'rolled_back',
          operator: '==',
          actual: outcome.rolledBack || outcome.alreadyRolledBack ? 1 : 0,
          threshold: 1,
          passed: true,
          scope: 'overall',
          reason: state,
        },
      ],
      metrics: {
        rolled_back: outcome.rolledBack ? 1 : 0,
        already_rolled_back: outcome.alreadyRolledBack ? 1 : 0,
      },
      details: {
        target: inputs.target,
        dryRun: inputs.dryRun,
        reason: inputs.reason,
        runUrl: runUrl() ?? null,
        state,
        ...outcome,
      },
    });
    return {
      report,
      markdown: renderRollback(report),
      terminal: [
        `  ${outcome.from} -> ${outcome.to}: ${state}`,
        ...outcome.steps.map((s) => `  ${inputs.dryRun ? 'would run' : 'ran'}: ${s}`),
      ],
      outputs: { 'rolled-back': String(outcome.rolledBack), from: outcome.from, to: outcome.to },
    };
  },
};
