/**
 * Rolls a GitHub deployment environment back to its last good commit: the newest deployment is marked
 * failed, and the commit of the newest earlier deployment that succeeded is deployed again, either as a new
 * deployment (for deploy systems that act on deployment events) or by dispatching the team's deploy
 * workflow. Each step is a deployment status, so the environment's history is the audit trail.
 */
import { ConfigurationError } from '../errors.js';
import { githubHeaders } from '../github/comment.js';
import type { RollbackContext, RollbackOutcome, RollbackTarget } from './target.js';

export interface GitHubDeploymentOptions {
  /** REST API root without a trailing slash: https://api.github.com, or https://HOST/api/v3 on GHES. */
  apiUrl: string;
  token: string;
  /** owner/repo */
  repository: string;
  environment: string;
  /**
   * deployment: create a deployment of the good commit and mark it successful.
   * workflow: dispatch `workflow` and wait until its deployment of the good commit succeeds.
   */
  redeploy: 'deployment' | 'workflow';
  /** The deploy workflow's file name (deploy.yml) or id. */
  workflow?: string;
  /**
   * The dispatched workflow's inputs. `{sha}`, `{ref}`, `{from}` (the commit rolled back from) and
   * `{reason}` in a value are filled in: pass `{sha}` to the input that says what to deploy, because
   * workflow_dispatch runs on a branch or tag, whose head may have moved past the good commit.
   */
  workflowInputs?: Record<string, string>;
  /** The branch or tag the workflow runs on; by default the good deployment's ref, when it names one. */
  workflowRef?: string;
  /** How often the dispatched workflow's deployment is looked for. */
  pollIntervalMs?: number;
}

interface Deployment {
  id: number;
  sha: string;
  ref: string;
  payload: unknown;
}

/** A deployment with its statuses' states, newest first. */
interface Seen {
  deployment: Deployment;
  states: string[];
}

const WHERE = 'github-deployment rollback';
const PER_PAGE = 100;
// 1,000 deployments: an environment with no success among them has nothing worth rolling back to.
const MAX_PAGES = 10;
// The documented maximum length of a deployment status description.
const DESCRIPTION_LIMIT = 140;
const FAILED = new Set(['failure', 'error']);
// Each call; the rollback timeout bounds the wait for a dispatched workflow's deployment.
const REQUEST_TIMEOUT_MS = 30_000;

export function githubDeploymentTarget(options: GitHubDeploymentOptions): RollbackTarget {
  const [owner, repo, ...rest] = options.repository.split('/');
  if (!owner || !repo || rest.length > 0) {
    throw new ConfigurationError(`must be owner/repo, got "${options.repository}"`, 'input "repository"');
  }
  if (!options.token) throw new ConfigurationError('is required', 'input "github-token"');
  if (!options.environment.trim()) throw new ConfigurationError('is required', 'input "environment"');
  if (options.redeploy === 'workflow' && !options.workflow) {
    throw new ConfigurationError('is required when redeploy is workflow', 'input "workflow"');
  }
  if (!/^https?:\/\//.test(options.apiUrl) || !URL.canParse(options.apiUrl)) {
    throw new ConfigurationError(`the GitHub API URL "${options.apiUrl}" is not an http(s) URL`, WHERE);
  }
  const repoPath = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;
  return {
    name: 'github-deployment',
    rollback: (ctx) => rollback(options, repoPath, ctx),
  };
}

async function rollback(
  options: GitHubDeploymentOptions,
  repoPath: string,
  ctx: RollbackContext,
): Promise<RollbackOutcome> {
  const api = new GitHubApi(options.apiUrl, options.token, Date.now() + ctx.timeoutMs);
  const { environment } = options;
  const { current, good } = await findCurrentAndGood(api, repoPath, environment);
  const from = current.deployment.sha;
  const to = good.deployment.sha;
  const before = {
    environment,
    deployment: String(current.deployment.id),
    sha: from,
    ref: current.deployment.ref,
    state: current.states[0] ?? 'none',
    'good deployment': String(good.deployment.id),
    'good sha': to,
  };
  const outcome = { from, to, before };

  if (isAlreadyRolledBack(current, to, options.redeploy)) {
    ctx.logger.info(
      `Deployment ${current.deployment.id} to ${environment} already runs ${short(to)}: nothing to do`,
    );
    const record = rollbackOf(current.deployment);
    const previous = typeof record?.from === 'string' ? record.from : from;
    return {
      ...outcome,
      from: previous,
      rolledBack: false,
      alreadyRolledBack: true,
      steps: [],
      after: before,
    };
  }

  const mark = FAILED.has(current.states[0] ?? '') ? 'inactive' : 'failure';
  const redeploy =
    options.redeploy === 'workflow'
      ? workflowRedeploy(options, good.deployment, from, ctx.reason, ctx.logger)
      : deploymentRedeploy(environment, to, from);
  const steps = [
    `set deployment ${current.deployment.id} (${short(from)}) ${mark}: ${ctx.reason}`,
    ...redeploy.steps,
  ];
  if (ctx.dryRun) {
    for (const step of steps) ctx.logger.info(`Would ${step}`);
    return { ...outcome, rolledBack: false, alreadyRolledBack: false, steps, after: {} };
  }

  await api.post(`${repoPath}/deployments/${current.deployment.id}/statuses`, {
    state: mark,
    description: clip(`mlgate rollback to ${short(to)}: ${ctx.reason}`),
    ...(ctx.runUrl ? { log_url: ctx.runUrl } : {}),
  });
  ctx.logger.info(`Marked deployment ${current.deployment.id} (${short(from)}) ${mark}`);
  const after = await redeploy.run(api, repoPath, current.deployment.id, ctx);
  return {
    ...outcome,
    rolledBack: true,
    alreadyRolledBack: false,
    steps,
    after: { ...after, 'previous deployment': String(current.deployment.id), 'previous state': mark },
  };
}

/** The newest deployment, and the newest earlier one that succeeded, scanning pages newest first. */
async function findCurrentAndGood(api: GitHubApi, repoPath: string, environment: string) {
  let current: Seen | undefined;
  let pages = 0;
  let url: string | undefined = api.url(`${repoPath}/deployments`, {
    environment,
    per_page: PER_PAGE,
    page: 1,
  });
  for (; url && pages < MAX_PAGES; pages++) {
    const { body, next }: { body: Deployment[]; next?: string } = await api.getPage<Deployment[]>(url);
    for (const deployment of body) {
      const seen = { deployment, states: await statesOf(api, repoPath, deployment.id) };
      if (!current) current = seen;
      else if (wasGood(seen.states)) return { current, good: seen };
    }
    url = next;
  }
  if (!current) {
    throw new ConfigurationError(
      `nothing to roll back: there are no deployments to environment "${environment}"`,
      WHERE,
    );
  }
  const scanned = url ? `the newest ${pages * PER_PAGE} deployments` : 'the earlier deployments';
  throw new ConfigurationError(
    `nothing to roll back to: none of ${scanned} to environment "${environment}" succeeded`,
    WHERE,
  );
}

async function statesOf(api: GitHubApi, repoPath: string, id: number): Promise<string[]> {
  const url = api.url(`${repoPath}/deployments/${id}/statuses`, { per_page: PER_PAGE });
  const { body } = await api.getPage<{ id: number; state: string }[]>(url);
  return [...body].sort((a, b) => b.id - a.id).map((s) => s.state);
}

/**
 * Succeeded and not failed since. GitHub marks earlier successful deployments `inactive` when a newer one
 * succeeds (auto_inactive), so the last good release is usually inactive by the time it is needed.
 */
function wasGood(states: string[]): boolean {
  return states.find((state) => state !== 'inactive') === 'success';
}

function isAlreadyRolledBack(current: Seen, to: string, redeploy: 'deployment' | 'workflow'): boolean {
  if (!wasGood(current.states)) return false;
  // A workflow's deployment carries no mlgate payload; that it runs the good commit is what counts.
  return (
    rollbackOf(current.deployment)?.to === to || (redeploy === 'workflow' && current.deployment.sha === to)
  );
}

/** The `rollback` record mlgate puts in the payload of the deployments it creates. */
function rollbackOf(deployment: Deployment): { from?: unknown; to?: unknown } | undefined {
  let payload = deployment.payload;
  if (typeof payload === 'string') {
    try {
      payload = JSON.parse(payload);
    } catch {
      return undefined;
    }
  }
  const record = (payload as { rollback?: unknown } | null)?.rollback;
  return typeof record === 'object' && record !== null ? record : undefined;
}

interface Redeploy {
  steps: string[];
  /** Does it and checks that it took; returns the state after. */
  run(
    api: GitHubApi,
    repoPath: string,
    currentId: number,
    ctx: RollbackContext,
  ): Promise<Record<string, string>>;
}

function deploymentRedeploy(environment: string, to: string, from: string): Redeploy {
  return {
    steps: [
      `create a deployment of ${short(to)} to ${environment} (rollback from ${short(from)})`,
      'set the new deployment success',
    ],
    async run(api, repoPath, _currentId, ctx) {
      const created = await api.post<Deployment>(`${repoPath}/deployments`, {
        ref: to,
        environment,
        auto_merge: false,
        required_contexts: [],
        payload: { rollback: { from, to, reason: ctx.reason } },
        description: clip(`mlgate rollback from ${short(from)}: ${ctx.reason}`),
      });
      if (typeof created.id !== 'number') {
        // 202: GitHub merged the default branch instead of deploying; auto_merge is off, so unexpected.
        throw new ConfigurationError(
          `GitHub did not create the deployment: ${JSON.stringify(created)}`,
          WHERE,
        );
      }
      await api.post(`${repoPath}/deployments/${created.id}/statuses`, {
        state: 'success',
        description: clip(`mlgate rollback from ${short(from)}: ${ctx.reason}`),
        ...(ctx.runUrl ? { log_url: ctx.runUrl } : {}),
      });
      ctx.logger.info(`Deployed ${short(to)} to ${environment} again (deployment ${created.id})`);
      const newest = await newestDeployment(api, repoPath, environment);
      if (newest?.deployment.id !== created.id || !wasGood(newest.states)) {
        throw new ConfigurationError(
          `deployment ${created.id} of ${short(to)} was created, but it is not the successful newest deployment of environment "${environment}" (another deployment may have started meanwhile)`,
          WHERE,
        );
      }
      return { deployment: String(created.id), sha: to, state: newest.states[0] };
    },
  };
}

function workflowRedeploy(
  options: GitHubDeploymentOptions,
  good: Deployment,
  from: string,
  reason: string,
  logger: RollbackContext['logger'],
): Redeploy {
  const workflow = options.workflow!;
  const ref = options.workflowRef ?? (isSha(good.ref) ? undefined : good.ref);
  if (!ref) {
    throw new ConfigurationError(
      `the good deployment's ref is the commit ${short(good.ref)}, and workflow_dispatch needs a branch or tag: give the ref to run the workflow on`,
      WHERE,
    );
  }
  const fill = { sha: good.sha, ref: good.ref, from, reason };
  const inputs = Object.fromEntries(
    Object.entries(options.workflowInputs ?? {}).map(([name, value]) => [
      name,
      value.replace(/\{(sha|ref|from|reason)\}/g, (_, key: keyof typeof fill) => fill[key]),
    ]),
  );
  if (!Object.values(options.workflowInputs ?? {}).some((value) => value.includes('{sha}'))) {
    logger.warning(
      `No workflow input carries {sha}: ${workflow} deploys whatever ${ref} points at now, which must still be ${short(good.sha)}`,
    );
  }
  return {
    steps: [
      `dispatch ${workflow} on ${ref} with inputs ${JSON.stringify(inputs)}`,
      `wait for its deployment of ${short(good.sha)} to ${options.environment} to succeed`,
    ],
    async run(api, repoPath, currentId, ctx) {
      await api.post(`${repoPath}/actions/workflows/${encodeURIComponent(workflow)}/dispatches`, {
        ref,
        inputs,
      });
      ctx.logger.info(`Dispatched ${workflow} on ${ref}; waiting for its deployment of ${short(good.sha)}`);
      const done = await waitForDeployment(api, repoPath, options, currentId, good.sha);
      return { deployment: String(done.deployment.id), sha: good.sha, state: done.states[0], workflow };
    },
  };
}

/** Polls the environment until a deployment newer than `afterId` succeeds or fails, or time runs out. */
async function waitForDeployment(
  api: GitHubApi,
  repoPath: string,
  options: GitHubDeploymentOptions,
  afterId: number,
  sha: string,
): Promise<Seen> {
  const interval = options.pollIntervalMs ?? 5_000;
  for (;;) {
    const newest = await newestDeployment(api, repoPath, options.environment);
    if (newest && newest.deployment.id > afterId) {
      if (newest.deployment.sha !== sha) {
        throw new ConfigurationError(
          `${options.workflow} deployed ${short(newest.deployment.sha)} instead of ${short(sha)} (deployment ${newest.deployment.id}): have it deploy the commit given as {sha}`,
          WHERE,
        );
      }
      if (wasGood(newest.states)) return newest;
      if (FAILED.has(newest.states[0] ?? '')) {
        throw new ConfigurationError(
          `${options.workflow} ran, but its deployment ${newest.deployment.id} of ${short(sha)} ended in ${newest.states[0]}`,
          WHERE,
        );
      }
    }
    const left = api.deadline - Date.now();
    if (left <= 0) {
      throw new ConfigurationError(
        `${options.workflow} was dispatched, but no successful deployment of ${short(sha)} to environment "${options.environment}" appeared in time: check the workflow run, and that its deploy job names the environment`,
        WHERE,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, left)));
  }
}

async function newestDeployment(
  api: GitHubApi,
  repoPath: string,
  environment: string,
): Promise<Seen | undefined> {
  const url = api.url(`${repoPath}/deployments`, { environment, per_page: 1, page: 1 });
  const [deployment] = (await api.getPage<Deployment[]>(url)).body;
  return deployment && { deployment, states: await statesOf(api, repoPath, deployment.id) };
}

function short(sha: string): string {
  return isSha(sha) ? sha.slice(0, 7) : sha;
}

function isSha(ref: string): boolean {
  return /^[0-9a-f]{40}$/i.test(ref);
}

function clip(text: string): string {
  return text.length <= DESCRIPTION_LIMIT ? text : `${text.slice(0, DESCRIPTION_LIMIT - 1)}…`;
}

const HINTS: Record<number, string> = {
  401: 'the github-token is invalid or has expired',
  403: 'the token may not do this: give the job `permissions: deployments: write` (and `actions: write` to dispatch a workflow)',
  404: 'the repository or workflow was not found, or the token cannot see it',
};

/** The few REST calls this target makes, over plain fetch; every failure is one clear line without the token. */
class GitHubApi {
  constructor(
    private readonly root: string,
    private readonly token: string,
    readonly deadline: number,
  ) {}

  url(path: string, query: Record<string, string | number>): string {
    const params = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
    return `${this.root.replace(/\/+$/, '')}${path}?${params}`;
  }

  async getPage<T>(url: string): Promise<{ body: T; next?: string }> {
    const response = await this.request('GET', url);
    return { body: (await response.json()) as T, next: this.nextPage(response.headers.get('link')) };
  }

  async post<T = unknown>(path: string, json: unknown): Promise<T> {
    const response = await this.request('POST', `${this.root.replace(/\/+$/, '')}${path}`, json);
    const text = await response.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** rel="next" from a Link header, only on the API's own origin: the token must not follow it elsewhere. */
  private nextPage(link: string | null): string | undefined {
    const next = link
      ?.split(',')
      .map((part) => /<([^>]+)>\s*;\s*rel="?next"?/.exec(part)?.[1])
      .find((url) => url !== undefined);
    return next && new URL(next).origin === new URL(this.root).origin ? next : undefined;
  }

  private async request(method: string, url: string, json?: unknown): Promise<Response> {
    const { pathname } = new URL(url);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: githubHeaders(this.token, json !== undefined),
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      throw new ConfigurationError(this.redact(`could not reach ${new URL(url).origin}: ${cause(e)}`), WHERE);
    }
    if (response.ok) return response;
    throw new ConfigurationError(this.redact(await describeFailure(method, pathname, response)), WHERE);
  }

  private redact(text: string): string {
    return text.split(this.token).join('***');
  }
}

async function describeFailure(method: string, path: string, response: Response): Promise<string> {
  let message = response.statusText;
  try {
    const body = (await response.json()) as { message?: unknown };
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not JSON (a proxy's error page): the status text will do.
  }
  const limited = response.headers.get('x-ratelimit-remaining') === '0' ? ' (API rate limit exhausted)' : '';
  const hint = HINTS[response.status] ? `; ${HINTS[response.status]}` : '';
  return `${method} ${path} answered ${response.status}: ${message}${limited}${hint}`;
}

/** Why fetch failed: undici hides the system error ("connect ECONNREFUSED ...") in `cause`. */
function cause(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  return err.cause?.message || err.cause?.code || err.message;
}
