/**
 * The HTTP rollback targets (GitHub deployments, an MLflow alias, a webhook) against stand-ins: real HTTP
 * servers on 127.0.0.1 that play GitHub, an MLflow tracking server and a webhook receiver, because the real
 * ones cannot be reached from here. Each stand-in keeps state and checks every request against the
 * documented contract (GitHub: its published OpenAPI description; MLflow: the REST API 2.0 of
 * mlflow/protos/model_registry.proto; the webhook: the signature and headers mlgate documents), recording
 * anything off contract in `violations`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/errors.js';
import { MemoryLogger } from '../src/logging.js';
import { type GitHubDeploymentOptions, githubDeploymentTarget } from '../src/rollback/github-deployment.js';
import { type MlflowOptions, mlflowTarget } from '../src/rollback/mlflow.js';
import type { RollbackContext } from '../src/rollback/target.js';
import { type WebhookOptions, webhookTarget } from '../src/rollback/webhook.js';
import { GitHubApiStandIn } from './support/github-api-stand-in.js';

// Distinctive, so any leak into a message, a log line or a result is found by a plain substring search.
const TOKEN = 'ghs_standInSecretToken0123456789abcdef';
const MLFLOW_TOKEN = 'mlflow-standIn-token-5f3a9c';
const WEBHOOK_SECRET = 'whsec-standIn-7d1e0b';
const API_KEY = 'apikey-standIn-42c9e1';
const RUN_URL = 'https://github.com/octo-org/models/actions/runs/777';
const REASON = 'canary-gate: rollback (p99 latency +43% over baseline)';

const sha = (label: string) => createHash('sha1').update(label).digest('hex');
const SHA_OLD = sha('v1.3.0');
const SHA_GOOD = sha('v1.4.0');
const SHA_BAD = sha('v1.5.0');

let logger: MemoryLogger;

beforeEach(() => {
  logger = new MemoryLogger();
});

function ctx(overrides: Partial<RollbackContext> = {}): RollbackContext {
  return { dryRun: false, reason: REASON, runUrl: RUN_URL, timeoutMs: 10_000, logger, ...overrides };
}

async function refusal(promise: Promise<unknown>): Promise<ConfigurationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigurationError);
  return error as ConfigurationError;
}

/** Nothing the user can see carries the secret: not the result, not the log. */
function expectNoLeak(secret: string, ...seen: unknown[]): void {
  expect(JSON.stringify([seen, logger.lines])).not.toContain(secret);
}

/** The URL of a port nothing listens on. */
async function unreachableUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('github-deployment rollback against the GitHub API stand-in', () => {
  const ENV = 'staging';
  let api: GitHubApiStandIn;
  let good: number;
  let bad: number;

  beforeEach(async () => {
    api = await GitHubApiStandIn.start({ token: TOKEN });
    api.refs.set('v1.4.0', SHA_GOOD);
    api.refs.set('v1.5.0', SHA_BAD);
  });

  afterEach(() => api.close());

  /** v1.3.0 and v1.4.0 went out fine, then v1.5.0 did too, and the canary found it bad. */
  function seedHistory(options: { failedBetween?: number; badStates?: string[] } = {}) {
    api.seedDeployment({ sha: SHA_OLD, ref: 'v1.3.0', environment: ENV, states: ['in_progress', 'success'] });
    good = api.seedDeployment({
      sha: SHA_GOOD,
      ref: 'v1.4.0',
      environment: ENV,
      states: ['in_progress', 'success'],
    });
    for (let i = 0; i < (options.failedBetween ?? 0); i++) {
      api.seedDeployment({
        sha: sha(`attempt ${i}`),
        ref: `attempt-${i}`,
        environment: ENV,
        states: ['failure'],
      });
    }
    // Newer, but to another environment: never a candidate.
    api.seedDeployment({ sha: sha('hotfix'), ref: 'hotfix', environment: 'production', states: ['success'] });
    bad = api.seedDeployment({
      sha: SHA_BAD,
      ref: 'v1.5.0',
      environment: ENV,
      states: options.badStates ?? ['in_progress', 'success'],
    });
  }

  const target = (overrides: Partial<GitHubDeploymentOptions> = {}) =>
    githubDeploymentTarget({
      apiUrl: api.url,
      token: TOKEN,
      repository: `${api.owner}/${api.repo}`,
      environment: ENV,
      redeploy: 'deployment',
      ...overrides,
    });

  const state = () => JSON.stringify(api.deployments(ENV).map((d) => [d, api.statuses(d.id)]));
  const writes = (from = 0) => api.requests.slice(from).filter((r) => r.method !== 'GET');

  it('marks the bad deployment failed and deploys the last good commit again, with an audit trail', async () => {
    seedHistory();
    // GitHub made the good deployment inactive when the bad one succeeded (auto_inactive).
    expect(api.statuses(good)[0].state).toBe('inactive');

    const outcome = await target().rollback(ctx());

    expect(outcome).toMatchObject({
      rolledBack: true,
      alreadyRolledBack: false,
      from: SHA_BAD,
      to: SHA_GOOD,
    });
    const [newest, previous] = api.deployments(ENV);
    expect(newest).toMatchObject({
      sha: SHA_GOOD,
      ref: SHA_GOOD,
      environment: ENV,
      payload: { rollback: { from: SHA_BAD, to: SHA_GOOD, reason: REASON } },
    });
    expect(api.statuses(newest.id)[0]).toMatchObject({ state: 'success', log_url: RUN_URL });
    expect(previous.id).toBe(bad);
    expect(api.statuses(bad)[0]).toMatchObject({
      state: 'failure',
      log_url: RUN_URL,
      description: expect.stringContaining(REASON.slice(0, 40)),
    });
    expect(writes().map((r) => r.operationId)).toEqual([
      'repos/create-deployment-status',
      'repos/create-deployment',
      'repos/create-deployment-status',
    ]);
    expect(writes()[1].body).toMatchObject({ ref: SHA_GOOD, auto_merge: false, required_contexts: [] });
    expect(api.requests[0].query).toMatchObject({ environment: ENV, per_page: '100', page: '1' });
    expect(outcome.before).toMatchObject({
      deployment: String(bad),
      sha: SHA_BAD,
      'good deployment': String(good),
    });
    expect(outcome.after).toEqual({
      deployment: String(newest.id),
      sha: SHA_GOOD,
      state: 'success',
      'previous deployment': String(bad),
      'previous state': 'failure',
    });
    expect(outcome.steps).toHaveLength(3);
    expect(api.violations).toEqual([]);
    expectNoLeak(TOKEN, outcome);
  });

  it('reads past the first page to find the last good deployment, and marks an already failed one inactive', async () => {
    seedHistory({ failedBetween: 120, badStates: ['in_progress', 'failure'] });

    const outcome = await target().rollback(ctx());

    expect(outcome).toMatchObject({ rolledBack: true, from: SHA_BAD, to: SHA_GOOD });
    const pages = api.requests
      .filter((r) => r.operationId === 'repos/list-deployments')
      .map((r) => r.query.page);
    expect(pages).toContain('2');
    expect(api.statuses(bad).map((s) => s.state)).toEqual(['inactive', 'failure', 'in_progress']);
    expect(api.deployments(ENV)[0]).toMatchObject({ sha: SHA_GOOD });
    expect(api.violations).toEqual([]);
  });

  it('says exactly what it would do in a dry-run, and changes nothing', async () => {
    seedHistory();
    const before = state();

    const outcome = await target().rollback(ctx({ dryRun: true }));

    expect(outcome).toMatchObject({
      rolledBack: false,
      alreadyRolledBack: false,
      from: SHA_BAD,
      to: SHA_GOOD,
    });
    expect(outcome.steps).toEqual([
      `set deployment ${bad} (${SHA_BAD.slice(0, 7)}) failure: ${REASON}`,
      `create a deployment of ${SHA_GOOD.slice(0, 7)} to staging (rollback from ${SHA_BAD.slice(0, 7)})`,
      'set the new deployment success',
    ]);
    expect(logger.lines.map((l) => l.message)).toEqual(outcome.steps.map((s) => `Would ${s}`));
    expect(writes()).toEqual([]);
    expect(state()).toBe(before);
    expect(api.violations).toEqual([]);
  });

  it('does nothing when run again: the newest deployment is already the rollback to the good commit', async () => {
    seedHistory();
    await target().rollback(ctx());
    const after = state();
    const seen = api.requests.length;

    const again = await target().rollback(ctx());

    expect(again).toMatchObject({
      rolledBack: false,
      alreadyRolledBack: true,
      from: SHA_BAD,
      to: SHA_GOOD,
      steps: [],
    });
    expect(writes(seen)).toEqual([]);
    expect(state()).toBe(after);
    expect(api.violations).toEqual([]);
  });

  it('dispatches the deploy workflow with the good commit, and waits for its deployment', async () => {
    seedHistory();
    api.workflows.set('deploy.yml', {
      id: 9001,
      inputs: ['sha', 'reason'],
      // What the team's workflow does: deploy the commit it is given, recorded as a deployment.
      run: ({ ref, inputs }) => {
        api.seedDeployment({ sha: inputs.sha, ref, environment: ENV, states: ['in_progress', 'success'] });
      },
    });
    const workflowTarget = target({
      redeploy: 'workflow',
      workflow: 'deploy.yml',
      workflowInputs: { sha: '{sha}', reason: 'rollback: {reason}' },
      pollIntervalMs: 10,
    });

    const outcome = await workflowTarget.rollback(ctx());

    expect(outcome).toMatchObject({ rolledBack: true, from: SHA_BAD, to: SHA_GOOD });
    const dispatch = api.requests.find((r) => r.operationId === 'actions/create-workflow-dispatch');
    expect(dispatch?.path).toBe(`/repos/${api.owner}/${api.repo}/actions/workflows/deploy.yml/dispatches`);
    expect(dispatch?.body).toEqual({
      ref: 'v1.4.0',
      inputs: { sha: SHA_GOOD, reason: `rollback: ${REASON}` },
    });
    const [newest] = api.deployments(ENV);
    expect(outcome.after).toMatchObject({ deployment: String(newest.id), sha: SHA_GOOD, state: 'success' });
    expect(api.statuses(bad)[0].state).toBe('failure');

    const seen = api.requests.length;
    const again = await workflowTarget.rollback(ctx());
    expect(again).toMatchObject({ alreadyRolledBack: true, rolledBack: false, to: SHA_GOOD });
    expect(writes(seen)).toEqual([]);
    expect(api.violations).toEqual([]);
  });

  it('fails clearly when the dispatched workflow never deploys', async () => {
    seedHistory();
    api.workflows.set('deploy.yml', { id: 9001, inputs: ['sha'] });
    const workflowTarget = target({
      redeploy: 'workflow',
      workflow: 'deploy.yml',
      workflowInputs: { sha: '{sha}' },
      pollIntervalMs: 10,
    });

    const error = await refusal(workflowTarget.rollback(ctx({ timeoutMs: 300 })));

    expect(error.message).toMatch(/deploy\.yml was dispatched, but no successful deployment of [0-9a-f]{7}/);
    expect(api.violations).toEqual([]);
  });

  it('refuses when there is nothing to roll back to', async () => {
    const none = await refusal(target().rollback(ctx()));
    expect(none.message).toBe(
      'github-deployment rollback: nothing to roll back: there are no deployments to environment "staging"',
    );

    api.seedDeployment({ sha: SHA_OLD, ref: 'v1.3.0', environment: ENV, states: ['failure'] });
    api.seedDeployment({ sha: SHA_BAD, ref: 'v1.5.0', environment: ENV, states: ['success'] });
    const onlyFailures = await refusal(target().rollback(ctx()));
    expect(onlyFailures.message).toMatch(
      /nothing to roll back to: none of the earlier deployments .* succeeded/,
    );
    expect(writes()).toEqual([]);
    expect(api.violations).toEqual([]);
  });

  it('shows the API reason for 401, 403 and 404, never the token', async () => {
    seedHistory();
    const wrongToken = 'ghs_revokedToken9876543210fedcba';
    const unauthorized = await refusal(target({ token: wrongToken }).rollback(ctx()));
    expect(unauthorized.message).toContain('answered 401: Bad credentials');

    api.failNext('repos/create-deployment-status', 403, 'Resource not accessible by integration');
    const forbidden = await refusal(target().rollback(ctx()));
    expect(forbidden.message).toMatch(
      /POST \/repos\/octo-org\/models\/deployments\/\d+\/statuses answered 403: Resource not accessible by integration/,
    );
    expect(api.statuses(bad)[0].state).toBe('success');

    const missing = await refusal(target({ repository: `${api.owner}/gone` }).rollback(ctx()));
    expect(missing.message).toContain('GET /repos/octo-org/gone/deployments answered 404: Not Found');

    expectNoLeak(TOKEN, unauthorized.message, forbidden.message, missing.message);
    expectNoLeak(wrongToken, unauthorized.message);
    expect(api.violations).toEqual([]);
  });

  it('says which API it could not reach', async () => {
    const url = await unreachableUrl();
    const error = await refusal(target({ apiUrl: url }).rollback(ctx()));
    expect(error.message).toMatch(
      /^github-deployment rollback: could not reach http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
    expectNoLeak(TOKEN, error.message);
  });
});

interface StoredVersion {
  status: string;
  tags: Map<string, string>;
}

interface StoredModel {
  tags: Map<string, string>;
  aliases: Map<string, string>;
  versions: Map<string, StoredVersion>;
}

/** The model-registry endpoints mlgate calls, with their fields; all are required strings (model_registry.proto). */
const MLFLOW_ENDPOINTS: Record<string, string[]> = {
  'GET /api/2.0/mlflow/registered-models/alias': ['name', 'alias'],
  'GET /api/2.0/mlflow/registered-models/get': ['name'],
  'GET /api/2.0/mlflow/model-versions/get': ['name', 'version'],
  'POST /api/2.0/mlflow/registered-models/alias': ['name', 'alias', 'version'],
  'POST /api/2.0/mlflow/registered-models/set-tag': ['name', 'key', 'value'],
  'POST /api/2.0/mlflow/model-versions/set-tag': ['name', 'version', 'key', 'value'],
};

interface MlflowReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface MlflowRequest {
  endpoint: string;
  fields: Record<string, unknown>;
  authorization?: string;
}

/**
 * A stand-in MLflow tracking server: the registry's aliases, tags and versions in memory, errors as MLflow
 * answers them (`{error_code, message}` JSON; the auth app's plain-text 401 and 403).
 */
class MlflowStandIn {
  readonly requests: MlflowRequest[] = [];
  readonly violations: string[] = [];
  readonly models = new Map<string, StoredModel>();
  private readonly injected: { status: number; text: string }[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly authorization: string,
  ) {}

  static async start(authorization: string): Promise<MlflowStandIn> {
    const server = createServer();
    const standIn = new MlflowStandIn(server, await listen(server), authorization);
    server.on('request', async (req, res) => {
      const reply = await standIn.handle(req);
      res.writeHead(reply.status, reply.headers ?? { 'Content-Type': 'application/json' });
      res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    });
    return standIn;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  seed(name: string, versions: string[], aliases: Record<string, string>, tags: Record<string, string> = {}) {
    this.models.set(name, {
      tags: new Map(Object.entries(tags)),
      aliases: new Map(Object.entries(aliases)),
      versions: new Map(versions.map((v) => [v, { status: 'READY', tags: new Map() }])),
    });
  }

  /** The next request answers with this status and plain-text body, as the MLflow auth app does. */
  failNext(status: number, text: string): void {
    this.injected.push({ status, text });
  }

  private async handle(req: IncomingMessage): Promise<MlflowReply> {
    const url = new URL(req.url ?? '/', this.url);
    const endpoint = `${req.method} ${url.pathname}`;
    const text = (await readBody(req)).toString('utf8');
    const request: MlflowRequest = { endpoint, fields: {}, authorization: req.headers.authorization };
    this.requests.push(request);
    const declared = MLFLOW_ENDPOINTS[endpoint];
    if (!declared) {
      this.violations.push(`${endpoint}: not an endpoint mlgate should call`);
      return { status: 404, body: 'Not Found', headers: { 'Content-Type': 'text/html' } };
    }
    if (req.method === 'GET') {
      if (text !== '') this.violations.push(`${endpoint}: a GET with a body`);
      request.fields = Object.fromEntries(url.searchParams);
    } else {
      // "The MLflow REST API requires content type application/json for all POST requests."
      if (!String(req.headers['content-type']).startsWith('application/json')) {
        this.violations.push(`${endpoint}: Content-Type is ${req.headers['content-type']}`);
      }
      if (url.search !== '') this.violations.push(`${endpoint}: a POST with a query string`);
      try {
        request.fields = JSON.parse(text);
      } catch {
        this.violations.push(`${endpoint}: the body is not JSON`);
      }
    }
    for (const name of declared) {
      if (typeof request.fields[name] !== 'string' || request.fields[name] === '') {
        this.violations.push(`${endpoint}: ${name} is required and must be a string`);
      }
    }
    for (const name of Object.keys(request.fields)) {
      if (!declared.includes(name)) this.violations.push(`${endpoint}: undeclared field ${name}`);
    }
    if (req.headers.authorization !== this.authorization) {
      return {
        status: 401,
        body: 'You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.',
        headers: { 'Content-Type': 'text/html; charset=utf-8', 'WWW-Authenticate': 'Basic realm="mlflow"' },
      };
    }
    const injected = this.injected.shift();
    if (injected)
      return { status: injected.status, body: injected.text, headers: { 'Content-Type': 'text/html' } };
    return this.serve(endpoint, request.fields as Record<string, string>);
  }

  private serve(endpoint: string, f: Record<string, string>): MlflowReply {
    const model = this.models.get(f.name);
    if (!model)
      return mlflowError(404, 'RESOURCE_DOES_NOT_EXIST', `Registered Model with name=${f.name} not found`);
    const version = (v: string) => model.versions.get(v);
    const missingVersion = () =>
      mlflowError(
        404,
        'RESOURCE_DOES_NOT_EXIST',
        `Model Version (name=${f.name}, version=${f.version}) not found`,
      );
    switch (endpoint) {
      case 'GET /api/2.0/mlflow/registered-models/alias': {
        const v = model.aliases.get(f.alias);
        if (!v)
          return mlflowError(400, 'INVALID_PARAMETER_VALUE', `Registered model alias ${f.alias} not found.`);
        return { status: 200, body: { model_version: this.render(f.name, model, v) } };
      }
      case 'GET /api/2.0/mlflow/registered-models/get':
        return {
          status: 200,
          body: {
            registered_model: {
              name: f.name,
              creation_timestamp: 1714564800000,
              last_updated_timestamp: 1714564800000,
              tags: [...model.tags].map(([key, value]) => ({ key, value })),
              aliases: [...model.aliases].map(([alias, v]) => ({ alias, version: v })),
            },
          },
        };
      case 'GET /api/2.0/mlflow/model-versions/get':
        if (!version(f.version)) return missingVersion();
        return { status: 200, body: { model_version: this.render(f.name, model, f.version) } };
      case 'POST /api/2.0/mlflow/registered-models/alias':
        if (!version(f.version)) return missingVersion();
        model.aliases.set(f.alias, f.version);
        return { status: 200, body: {} };
      case 'POST /api/2.0/mlflow/registered-models/set-tag':
        if (f.value.length > 5000) this.violations.push(`tag ${f.key}: value longer than 5,000 characters`);
        model.tags.set(f.key, f.value);
        return { status: 200, body: {} };
      case 'POST /api/2.0/mlflow/model-versions/set-tag':
        if (!version(f.version)) return missingVersion();
        version(f.version)!.tags.set(f.key, f.value);
        return { status: 200, body: {} };
      default:
        throw new Error(`no handler for ${endpoint}`);
    }
  }

  private render(name: string, model: StoredModel, v: string) {
    const stored = model.versions.get(v)!;
    return {
      name,
      version: v,
      creation_timestamp: 1714564800000,
      last_updated_timestamp: 1714564800000,
      current_stage: 'None',
      description: '',
      source: `models:/m-${v}`,
      run_id: '',
      status: stored.status,
      tags: [...stored.tags].map(([key, value]) => ({ key, value })),
      aliases: [...model.aliases].filter(([, at]) => at === v).map(([alias]) => alias),
    };
  }
}

function mlflowError(status: number, error_code: string, message: string): MlflowReply {
  return { status, body: { error_code, message } };
}

describe('mlflow rollback against an MLflow tracking server stand-in', () => {
  const HISTORY = 'mlgate.alias_history.champion';
  let mlflow: MlflowStandIn;

  beforeEach(async () => {
    mlflow = await MlflowStandIn.start(`Bearer ${MLFLOW_TOKEN}`);
    // mlgate moved champion to 1, then 3, then 4; version 4 turned out bad.
    mlflow.seed(
      'churn',
      ['1', '2', '3', '4'],
      { champion: '4', challenger: '2' },
      { [HISTORY]: '["1","3","4"]' },
    );
  });

  afterEach(() => mlflow.close());

  const target = (overrides: Partial<MlflowOptions> = {}) =>
    mlflowTarget({
      trackingUri: mlflow.url,
      token: MLFLOW_TOKEN,
      model: 'churn',
      alias: 'champion',
      ...overrides,
    });
  const churn = () => mlflow.models.get('churn')!;
  const state = () =>
    JSON.stringify([...churn().aliases, ...churn().tags, ...churn().versions.get('4')!.tags]);
  const writes = (from = 0) => mlflow.requests.slice(from).filter((r) => r.endpoint.startsWith('POST'));

  it('moves the alias back to the previous version in its history, and records why', async () => {
    const outcome = await target().rollback(ctx());

    expect(outcome).toMatchObject({ rolledBack: true, alreadyRolledBack: false, from: '4', to: '3' });
    expect(churn().aliases.get('champion')).toBe('3');
    expect(churn().aliases.get('challenger')).toBe('2');
    expect(JSON.parse(churn().tags.get(HISTORY)!)).toEqual(['1', '3', '4', '3']);
    expect(JSON.parse(churn().tags.get('mlgate.last_rollback.champion')!)).toMatchObject({
      from: '4',
      to: '3',
      reason: REASON,
      runUrl: RUN_URL,
    });
    expect(churn().versions.get('4')!.tags.get('mlgate.rollback_reason')).toBe(REASON);
    expect(writes().map((r) => r.endpoint)).toEqual([
      'POST /api/2.0/mlflow/registered-models/alias',
      'POST /api/2.0/mlflow/registered-models/set-tag',
      'POST /api/2.0/mlflow/registered-models/set-tag',
      'POST /api/2.0/mlflow/model-versions/set-tag',
    ]);
    expect(outcome.before).toEqual({ model: 'churn', alias: 'champion', version: '4' });
    expect(outcome.after).toEqual({ model: 'churn', alias: 'champion', version: '3' });
    expect(mlflow.violations).toEqual([]);
    expectNoLeak(MLFLOW_TOKEN, outcome);
  });

  it('goes to the version given, recording where the alias was when its history does not say', async () => {
    churn().tags.clear();

    const outcome = await target({ version: '1' }).rollback(ctx());

    expect(outcome).toMatchObject({ rolledBack: true, from: '4', to: '1' });
    expect(churn().aliases.get('champion')).toBe('1');
    expect(JSON.parse(churn().tags.get(HISTORY)!)).toEqual(['4', '1']);
    expect(mlflow.violations).toEqual([]);
  });

  it('says exactly what it would do in a dry-run, and changes nothing', async () => {
    const before = state();

    const outcome = await target().rollback(ctx({ dryRun: true }));

    expect(outcome).toMatchObject({
      rolledBack: false,
      alreadyRolledBack: false,
      from: '4',
      to: '3',
      after: {},
    });
    expect(outcome.steps).toEqual([
      'set alias champion of model churn to version 3 (was 4)',
      `set registered-model tag ${HISTORY} to ["1","3","4","3"]`,
      'set registered-model tag mlgate.last_rollback.champion',
      `set tag mlgate.rollback_reason on version 4: ${REASON}`,
    ]);
    expect(logger.lines.map((l) => l.message)).toEqual(outcome.steps.map((s) => `Would ${s}`));
    expect(writes()).toEqual([]);
    expect(state()).toBe(before);
    expect(mlflow.violations).toEqual([]);
  });

  it('does nothing when run again, and still rolls back a later release', async () => {
    await target().rollback(ctx());
    const after = state();
    const seen = mlflow.requests.length;

    const again = await target().rollback(ctx());

    expect(again).toMatchObject({
      rolledBack: false,
      alreadyRolledBack: true,
      from: '4',
      to: '3',
      steps: [],
    });
    expect(writes(seen)).toEqual([]);
    expect(state()).toBe(after);

    // A later promotion by mlgate (alias moved, history appended) is rolled back to where it came from.
    churn().aliases.set('champion', '4');
    churn().tags.set(HISTORY, '["1","3","4","3","4"]');
    const later = await target().rollback(ctx());
    expect(later).toMatchObject({ rolledBack: true, from: '4', to: '3' });
    expect(mlflow.violations).toEqual([]);
  });

  it('refuses when there is nothing to roll back to, or the history cannot be trusted', async () => {
    churn().tags.clear();
    const noHistory = await refusal(target().rollback(ctx()));
    expect(noHistory.message).toBe(
      `mlflow rollback: nothing to roll back to: mlgate has no history of alias champion of model "churn" (tag ${HISTORY}); give the version to roll back to`,
    );

    churn().tags.set(HISTORY, '["1","3","4"]');
    churn().aliases.set('champion', '2');
    const movedElsewhere = await refusal(target().rollback(ctx()));
    expect(movedElsewhere.message).toContain('it was moved outside mlgate');

    const noSuchVersion = await refusal(target({ version: '9' }).rollback(ctx()));
    expect(noSuchVersion.message).toContain(
      'GET /api/2.0/mlflow/model-versions/get answered 404: RESOURCE_DOES_NOT_EXIST: Model Version (name=churn, version=9) not found',
    );
    expect(writes()).toEqual([]);
    expect(mlflow.violations).toEqual([]);
  });

  it("shows the server's reason for 401, 403 and 404, never the credentials", async () => {
    const wrongToken = 'mlflow-revoked-token-0000';
    const unauthorized = await refusal(target({ token: wrongToken }).rollback(ctx()));
    expect(unauthorized.message).toContain('answered 401: You are not authenticated.');

    mlflow.failNext(403, 'Permission denied');
    const forbidden = await refusal(target().rollback(ctx()));
    expect(forbidden.message).toContain(
      'GET /api/2.0/mlflow/registered-models/alias answered 403: Permission denied',
    );

    const missing = await refusal(target({ model: 'fraud' }).rollback(ctx()));
    expect(missing.message).toContain(
      'answered 404: RESOURCE_DOES_NOT_EXIST: Registered Model with name=fraud not found',
    );

    const noAlias = await refusal(target({ alias: 'gold' }).rollback(ctx()));
    expect(noAlias.message).toContain(
      'answered 400: INVALID_PARAMETER_VALUE: Registered model alias gold not found.',
    );

    expectNoLeak(MLFLOW_TOKEN, unauthorized.message, forbidden.message, missing.message, noAlias.message);
    expectNoLeak(wrongToken, unauthorized.message);
    expect(mlflow.violations).toEqual([]);
  });

  it('sends basic auth, and keeps the password out of messages', async () => {
    const basic = `Basic ${Buffer.from('ci-bot:s3cret-pass-word').toString('base64')}`;
    const secured = await MlflowStandIn.start(basic);
    try {
      secured.seed('churn', ['3', '4'], { champion: '4' }, { [HISTORY]: '["3","4"]' });
      const viaBasic = (password: string) =>
        mlflowTarget({
          trackingUri: secured.url,
          username: 'ci-bot',
          password,
          model: 'churn',
          alias: 'champion',
        });

      const outcome = await viaBasic('s3cret-pass-word').rollback(ctx());
      expect(outcome).toMatchObject({ rolledBack: true, to: '3' });
      expect(secured.requests.every((r) => r.authorization === basic)).toBe(true);

      const refused = await refusal(viaBasic('wrong-pass-word').rollback(ctx()));
      expect(refused.message).toContain('401');
      expectNoLeak('pass-word', outcome, refused.message);
      expect(secured.violations).toEqual([]);
    } finally {
      await secured.close();
    }
  });

  it('says which server it could not reach', async () => {
    const url = await unreachableUrl();
    const error = await refusal(target({ trackingUri: url }).rollback(ctx()));
    expect(error.message).toMatch(
      /^mlflow rollback: could not reach http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
  });
});

interface Delivery {
  headers: IncomingMessage['headers'];
  body: Buffer;
  event?: Record<string, unknown>;
}

/**
 * A stand-in webhook receiver: verifies each delivery the way a receiver should (the HMAC over the raw
 * bytes, before parsing), and answers from a script, then 200.
 */
class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  readonly violations: string[] = [];
  readonly script: { status: number; body?: string; headers?: Record<string, string> }[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly secret: string | undefined,
  ) {}

  static async start(secret?: string): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server, `${await listen(server)}/hooks/rollback?team=ml`, secret);
    server.on('request', async (req, res) => {
      receiver.check(req, await readBody(req));
      const reply = receiver.script.shift() ?? { status: 200, body: '{"ok":true}' };
      res.writeHead(reply.status, { 'Content-Type': 'application/json', ...reply.headers });
      res.end(reply.body ?? '');
    });
    return receiver;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private check(req: IncomingMessage, body: Buffer): void {
    const delivery: Delivery = { headers: req.headers, body };
    this.deliveries.push(delivery);
    if (req.method !== 'POST') this.violations.push(`${req.method}: not a POST`);
    if (!String(req.headers['content-type']).startsWith('application/json')) {
      this.violations.push(`Content-Type is ${req.headers['content-type']}`);
    }
    if (
      !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(
        String(req.headers['x-mlgate-delivery']),
      )
    ) {
      this.violations.push('X-Mlgate-Delivery is not a UUID');
    }
    const signature = req.headers['x-mlgate-signature-256'];
    if (this.secret) {
      const expected = Buffer.from(`sha256=${createHmac('sha256', this.secret).update(body).digest('hex')}`);
      const given = Buffer.from(String(signature));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        this.violations.push('X-Mlgate-Signature-256 does not match the body');
        return;
      }
    } else if (signature !== undefined) {
      this.violations.push('signed without a secret');
    }
    try {
      delivery.event = JSON.parse(body.toString('utf8'));
    } catch {
      this.violations.push('the body is not JSON');
      return;
    }
    const keys = Object.keys(delivery.event ?? {}).sort();
    const documented = ['event', 'from', 'reason', 'runUrl', 'timestamp', 'to', 'what'];
    if (JSON.stringify(keys) !== JSON.stringify(documented)) this.violations.push(`payload keys ${keys}`);
    if (Number.isNaN(Date.parse(String(delivery.event?.timestamp))))
      this.violations.push('timestamp is not a date');
  }
}

describe('webhook rollback against a webhook receiver stand-in', () => {
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    receiver = await WebhookReceiver.start(WEBHOOK_SECRET);
  });

  afterEach(() => receiver.close());

  const target = (overrides: Partial<WebhookOptions> = {}) =>
    webhookTarget({
      url: receiver.url,
      secret: WEBHOOK_SECRET,
      headers: { 'X-Api-Key': API_KEY },
      what: 'churn model in production',
      from: 'v1.5.0',
      to: 'v1.4.0',
      ...overrides,
    });

  it('POSTs a signed rollback event that the receiver verifies', async () => {
    const outcome = await target().rollback(ctx());

    expect(receiver.deliveries).toHaveLength(1);
    const [delivery] = receiver.deliveries;
    expect(delivery.event).toEqual({
      event: 'mlgate.rollback',
      what: 'churn model in production',
      from: 'v1.5.0',
      to: 'v1.4.0',
      reason: REASON,
      runUrl: RUN_URL,
      timestamp: expect.any(String),
    });
    expect(delivery.headers['x-api-key']).toBe(API_KEY);
    expect(delivery.headers['x-mlgate-event']).toBe('mlgate.rollback');
    expect(outcome).toMatchObject({
      rolledBack: true,
      alreadyRolledBack: false,
      from: 'v1.5.0',
      to: 'v1.4.0',
    });
    expect(outcome.after).toEqual({
      delivery: delivery.headers['x-mlgate-delivery'],
      status: '200',
      attempts: '1',
    });
    expect(receiver.violations).toEqual([]);
    expectNoLeak(WEBHOOK_SECRET, outcome);
    expectNoLeak(API_KEY, outcome);
  });

  it('retries after a 503 with the same delivery id and the same signed bytes', async () => {
    receiver.script.push({ status: 503, body: 'upstream busy', headers: { 'Retry-After': '0' } });

    const outcome = await target().rollback(ctx());

    expect(receiver.deliveries).toHaveLength(2);
    const [first, second] = receiver.deliveries;
    expect(second.headers['x-mlgate-delivery']).toBe(first.headers['x-mlgate-delivery']);
    expect(second.body.equals(first.body)).toBe(true);
    expect(outcome.after).toMatchObject({ status: '200', attempts: '2' });
    expect(
      logger.lines.some((l) => l.level === 'warning' && /HTTP 503: upstream busy; retrying/.test(l.message)),
    ).toBe(true);
    expect(receiver.violations).toEqual([]);
  });

  it('does not retry a 400, and shows the status and the start of the body', async () => {
    receiver.script.push({ status: 400, body: '{"error":"unknown service churn-model"}' });

    const error = await refusal(target().rollback(ctx()));

    expect(receiver.deliveries).toHaveLength(1);
    expect(error.message).toMatch(
      /^webhook rollback: http:\/\/127\.0\.0\.1:\d+\/… answered HTTP 400: \{"error":"unknown service churn-model"\}$/,
    );
    expect(receiver.violations).toEqual([]);
  });

  it('shows the status of a 401, 403 or 404, never the secret or the headers', async () => {
    for (const status of [401, 403, 404]) {
      receiver.script.push({ status, body: `refused: key ${API_KEY} is not allowed` });
      const error = await refusal(target().rollback(ctx()));
      expect(error.message).toContain(`answered HTTP ${status}: refused: key *** is not allowed`);
      expectNoLeak(API_KEY, error.message);
      expectNoLeak(WEBHOOK_SECRET, error.message);
    }
    expect(receiver.deliveries).toHaveLength(3);
    expect(receiver.violations).toEqual([]);
  });

  it('prints the payload in a dry-run and sends nothing', async () => {
    const outcome = await target().rollback(ctx({ dryRun: true }));

    expect(receiver.deliveries).toEqual([]);
    expect(outcome).toMatchObject({ rolledBack: false, alreadyRolledBack: false, after: {} });
    const printed = logger.lines.map((l) => l.message).join('\n');
    expect(printed).toContain('"event": "mlgate.rollback"');
    expect(printed).toContain(`"reason": "${REASON}"`);
    expectNoLeak(API_KEY, outcome);
  });

  it('gives a re-run of the same GitHub run the same delivery id, so the receiver can deduplicate', async () => {
    await target().rollback(ctx());
    await target().rollback(ctx());
    await target().rollback(ctx({ runUrl: 'https://github.com/octo-org/models/actions/runs/778' }));

    const ids = receiver.deliveries.map((d) => d.headers['x-mlgate-delivery']);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).not.toBe(ids[0]);
    expect(receiver.violations).toEqual([]);
  });

  it('says which receiver it could not reach', async () => {
    const url = `${await unreachableUrl()}/hooks/rollback`;
    const error = await refusal(target({ url, retries: 0 }).rollback(ctx()));
    expect(error.message).toMatch(
      /^webhook rollback: could not deliver to http:\/\/127\.0\.0\.1:\d+\/… \(1 attempt\): .*ECONNREFUSED/,
    );
  });
});
