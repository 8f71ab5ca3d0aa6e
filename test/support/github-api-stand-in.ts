/**
 * A stand-in for GitHub's REST API (the real one cannot be reached from our machines): a real HTTP server on
 * 127.0.0.1 serving the issue-comment, deployment, deployment-status and workflow-dispatch operations, with
 * state. Every request is checked against GitHub's published OpenAPI description (the excerpt in
 * test/fixtures/github/issue-comments.openapi.json) and the documented request headers; every response it
 * sends is checked against the documented status codes and schemas. Anything off contract is recorded in
 * `violations`, which tests assert to be empty.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { resolveRef, type Schema, validate } from './json-schema.js';

const contract: Schema = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'github', 'issue-comments.openapi.json'), 'utf8'),
);
const REQUIRED_HEADERS: Record<string, string> = contract.info['x-mlgate-request-headers'].required;
// 401, 403 and 404 can answer any call (bad token, missing permission, resource out of sight).
const ANY_OPERATION: Schema = contract.info['x-mlgate-any-operation-statuses'];
// The description of per_page says "max 100"; the schema itself carries no maximum.
const MAX_PER_PAGE = 100;

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  operationId?: string;
  body?: unknown;
  headers: Record<string, string | string[] | undefined>;
}

interface Operation {
  operationId: string;
  method: string;
  pattern: RegExp;
  spec: Schema;
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface StoredDeployment {
  id: number;
  sha: string;
  ref: string;
  task: string;
  environment: string;
  payload: unknown;
  description: string | null;
  transient: boolean;
  production: boolean;
  login: string;
  createdAt: string;
  statuses: StoredStatus[];
}

interface StoredStatus {
  id: number;
  state: string;
  description: string;
  logUrl: string;
  environmentUrl: string;
  login: string;
  createdAt: string;
}

/** A workflow that can be dispatched; `run` plays the workflow run (it may create deployments). */
export interface StandInWorkflow {
  id: number;
  inputs: string[];
  run?: (dispatch: { ref: string; sha: string; inputs: Record<string, string> }) => void;
}

const SHA = /^[0-9a-f]{40}$/;

interface StoredComment {
  id: number;
  issue: number;
  body: string;
  login: string;
  createdAt: string;
  updatedAt: string;
}

const operations: Operation[] = Object.entries(contract.paths as Record<string, Schema>).flatMap(
  ([template, methods]) =>
    Object.entries(methods).map(([method, spec]) => ({
      operationId: spec.operationId,
      method: method.toUpperCase(),
      pattern: new RegExp(`^${template.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
      spec,
    })),
);

export class GitHubApiStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly violations: string[] = [];
  private readonly stored: StoredComment[] = [];
  private readonly storedDeployments: StoredDeployment[] = [];
  /** Branches and tags, by name: what workflow_dispatch can run on and deployments can name. */
  readonly refs = new Map<string, string>();
  /** Workflows by file name. */
  readonly workflows = new Map<string, StandInWorkflow>();
  private readonly injected = new Map<string, Reply[]>();
  private nextId = 1000;
  private clock = Date.parse('2024-05-01T12:00:00Z');

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly token: string,
    readonly owner: string,
    readonly repo: string,
  ) {}

  static async start(options: { token: string; owner?: string; repo?: string }): Promise<GitHubApiStandIn> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const standIn = new GitHubApiStandIn(
      server,
      `http://127.0.0.1:${port}`,
      options.token,
      options.owner ?? 'octo-org',
      options.repo ?? 'models',
    );
    server.on('request', (req, res) => void standIn.handle(req, res));
    return standIn;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.server.close((e) => (e ? reject(e) : resolve())));
  }

  /** Comments already on the pull request, oldest first, written by someone else. */
  seed(issue: number, bodies: string[], login = 'octocat'): number[] {
    return bodies.map((body) => this.store(issue, body, login).id);
  }

  /** The comments on an issue as the API would list them. */
  comments(issue: number): Schema[] {
    return this.stored.filter((c) => c.issue === issue).map((c) => this.render(c));
  }

  /** A deployment made earlier (by a deploy job, say), with its statuses applied in order. */
  seedDeployment(options: {
    sha: string;
    ref: string;
    environment: string;
    states?: string[];
    payload?: unknown;
    login?: string;
  }): number {
    const deployment = this.storeDeployment({ ...options, login: options.login ?? 'octocat' });
    for (const state of options.states ?? []) {
      this.addStatus(deployment, {
        state,
        login: deployment.login,
        logUrl: `https://github.com/${this.owner}/${this.repo}/actions/runs/${deployment.id}`,
      });
    }
    return deployment.id;
  }

  /** The deployments to an environment as the API would list them, newest first. */
  deployments(environment: string): Schema[] {
    return this.deploymentsIn(environment).map((d) => this.renderDeployment(d));
  }

  /** A deployment's statuses as the API would list them, newest first. */
  statuses(deploymentId: number): Schema[] {
    const deployment = this.storedDeployments.find((d) => d.id === deploymentId);
    return [...(deployment?.statuses ?? [])].reverse().map((s) => this.renderStatus(deployment!, s));
  }

  /** The next call of `operationId` answers with this status and a basic-error body carrying `message`. */
  failNext(operationId: string, status: number, message: string): void {
    const body = { message, documentation_url: 'https://docs.github.com/rest', status: String(status) };
    this.injected.set(operationId, [...(this.injected.get(operationId) ?? []), { status, body }]);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const text = await readBody(req);
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
    };
    this.requests.push(recorded);
    const reply = this.reply(req, url, text, recorded);
    if (reply.status === 204) {
      res.writeHead(204, reply.headers).end();
      return;
    }
    res.writeHead(reply.status, { 'Content-Type': 'application/json; charset=utf-8', ...reply.headers });
    res.end(JSON.stringify(reply.body));
  }

  private reply(req: IncomingMessage, url: URL, text: string, recorded: RecordedRequest): Reply {
    const found = this.match(recorded.method, url.pathname);
    if (!found) {
      this.violations.push(`${recorded.method} ${url.pathname}: not an operation of the contract`);
      return error(404, 'Not Found');
    }
    const { operation, params } = found;
    recorded.operationId = operation.operationId;
    const where = `${operation.operationId} (${recorded.method} ${url.pathname})`;
    const authorized = this.checkHeaders(req, where);
    this.checkParameters(operation, params, url.searchParams, where);
    recorded.body = this.checkBody(operation, req, text, where);
    const reply = authorized
      ? (this.injected.get(operation.operationId)?.shift() ??
        this.serve(operation, params, url, recorded.body))
      : error(401, 'Bad credentials');
    this.checkReply(operation, reply, where);
    return reply;
  }

  private match(method: string, path: string) {
    for (const operation of operations) {
      const params = operation.pattern.exec(path)?.groups;
      if (params && operation.method === method) return { operation, params };
    }
    return undefined;
  }

  /** The headers GitHub documents for every REST call; a wrong token is a 401, as on GitHub. */
  private checkHeaders(req: IncomingMessage, where: string): boolean {
    for (const [name, expected] of Object.entries(REQUIRED_HEADERS)) {
      const value = req.headers[name.toLowerCase()];
      if (typeof value !== 'string' || value === '') this.violations.push(`${where}: missing header ${name}`);
      else if (name === 'Accept' && !value.split(',').some((v) => v.trim() === expected)) {
        this.violations.push(`${where}: Accept is ${value}, expected ${expected}`);
      } else if (name === 'X-GitHub-Api-Version' && value !== expected) {
        this.violations.push(`${where}: X-GitHub-Api-Version is ${value}, expected ${expected}`);
      } else if (name === 'Authorization' && !/^Bearer \S+$/.test(value)) {
        this.violations.push(`${where}: Authorization is not "Bearer <token>"`);
      }
    }
    return req.headers.authorization === `Bearer ${this.token}`;
  }

  private checkParameters(
    operation: Operation,
    path: Record<string, string>,
    query: URLSearchParams,
    where: string,
  ) {
    const declared = (operation.spec.parameters as Schema[]).map((p) =>
      p.$ref ? resolveRef(contract, p.$ref) : p,
    );
    for (const parameter of declared) {
      const value = parameter.in === 'path' ? path[parameter.name] : (query.get(parameter.name) ?? undefined);
      if (value === undefined) {
        if (parameter.required)
          this.violations.push(`${where}: missing required parameter ${parameter.name}`);
        continue;
      }
      if (parameter.schema?.type === 'integer' && !/^\d+$/.test(value)) {
        this.violations.push(`${where}: parameter ${parameter.name}=${value} is not an integer`);
      }
    }
    for (const name of query.keys()) {
      if (!declared.some((p) => p.in === 'query' && p.name === name)) {
        this.violations.push(`${where}: undocumented query parameter ${name}`);
      }
    }
    if (Number(query.get('per_page')) > MAX_PER_PAGE)
      this.violations.push(`${where}: per_page above ${MAX_PER_PAGE}`);
  }

  private checkBody(operation: Operation, req: IncomingMessage, text: string, where: string): unknown {
    const requestBody = operation.spec.requestBody as Schema | undefined;
    if (!requestBody) {
      if (text !== '') this.violations.push(`${where}: sends a body the operation does not take`);
      return undefined;
    }
    if (!String(req.headers['content-type']).startsWith('application/json')) {
      this.violations.push(
        `${where}: Content-Type is ${req.headers['content-type']}, expected application/json`,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.violations.push(`${where}: the request body is not JSON`);
      return undefined;
    }
    const schema = requestBody.content['application/json'].schema;
    for (const problem of validate(body, schema, contract))
      this.violations.push(`${where}: request body ${problem}`);
    return body;
  }

  /** Responses are held to the contract too, so a test cannot pass against an answer GitHub would never give. */
  private checkReply(operation: Operation, reply: Reply, where: string): void {
    const documented = operation.spec.responses[String(reply.status)] as Schema | undefined;
    const anyOperation = String(reply.status) in ANY_OPERATION.statuses;
    if (!documented && !anyOperation) {
      this.violations.push(`${where}: status ${reply.status} is not documented for this operation`);
      return;
    }
    const response = documented?.$ref ? resolveRef(contract, documented.$ref) : documented;
    const schema = response ? response.content?.['application/json']?.schema : ANY_OPERATION.schema;
    if (!schema) return;
    for (const problem of validate(reply.body, schema, contract))
      this.violations.push(`${where}: response ${problem}`);
  }

  private serve(operation: Operation, params: Record<string, string>, url: URL, body: unknown): Reply {
    if (params.owner !== this.owner || params.repo !== this.repo) return error(404, 'Not Found');
    const text = (body as { body?: unknown } | undefined)?.body;
    switch (operation.operationId) {
      case 'repos/list-deployments':
        return this.listDeployments(url);
      case 'repos/create-deployment':
        return this.createDeployment(body as Schema);
      case 'repos/list-deployment-statuses': {
        const id = Number(params.deployment_id);
        if (!this.storedDeployments.some((d) => d.id === id)) return error(404, 'Not Found');
        return page(this.statuses(id), url, this.url);
      }
      case 'repos/create-deployment-status':
        return this.createStatus(Number(params.deployment_id), body as Schema);
      case 'actions/create-workflow-dispatch':
        return this.dispatch(decodeURIComponent(params.workflow_id), body as Schema, operation);
      case 'issues/list-comments':
        return page(this.comments(Number(params.issue_number)), url, this.url);
      case 'issues/create-comment':
        if (typeof text !== 'string') return validationFailed();
        return {
          status: 201,
          body: this.render(this.store(Number(params.issue_number), text, 'github-actions[bot]')),
        };
      case 'issues/update-comment': {
        const comment = this.stored.find((c) => c.id === Number(params.comment_id));
        if (!comment) return error(404, 'Not Found');
        if (typeof text !== 'string') return validationFailed();
        comment.body = text;
        comment.updatedAt = this.tick();
        return { status: 200, body: this.render(comment) };
      }
      default:
        throw new Error(`no handler for ${operation.operationId}`);
    }
  }

  private listDeployments(url: URL): Reply {
    const filters = ['sha', 'ref', 'task', 'environment'] as const;
    const keep = (d: StoredDeployment) =>
      filters.every((name) => {
        const wanted = url.searchParams.get(name);
        return wanted === null || d[name] === wanted;
      });
    const all = [...this.storedDeployments].reverse().filter(keep);
    return page(
      all.map((d) => this.renderDeployment(d)),
      url,
      this.url,
    );
  }

  private createDeployment(body: Schema): Reply {
    const ref = String(body.ref);
    const sha = SHA.test(ref) ? ref : this.refs.get(ref);
    if (!sha) return validationFailed(`No ref found for: ${ref}`);
    const environment = body.environment ?? 'production';
    const deployment = this.storeDeployment({
      sha,
      ref,
      environment,
      task: body.task,
      payload: body.payload,
      description: body.description,
      transient: body.transient_environment,
      production: body.production_environment ?? environment === 'production',
      login: 'github-actions[bot]',
    });
    return { status: 201, body: this.renderDeployment(deployment) };
  }

  private createStatus(deploymentId: number, body: Schema): Reply {
    const deployment = this.storedDeployments.find((d) => d.id === deploymentId);
    if (!deployment) return error(404, 'Not Found');
    if (typeof body.description === 'string' && body.description.length > 140) {
      this.violations.push(
        'repos/create-deployment-status: description longer than the documented 140 characters',
      );
    }
    const status = this.addStatus(deployment, {
      state: body.state,
      description: body.description,
      logUrl: body.log_url ?? body.target_url,
      environmentUrl: body.environment_url,
      autoInactive: body.auto_inactive,
      login: 'github-actions[bot]',
    });
    return {
      status: 201,
      body: this.renderStatus(deployment, status),
      headers: { Location: this.renderStatus(deployment, status).url },
    };
  }

  /** What GitHub checks before it queues the run; then the workflow's `run` plays the run itself. */
  private dispatch(workflowId: string, body: Schema, operation: Operation): Reply {
    const workflow =
      this.workflows.get(workflowId) ?? [...this.workflows.values()].find((w) => String(w.id) === workflowId);
    if (!workflow) return error(404, 'Not Found');
    const ref = String(body.ref).replace(/^refs\/(heads|tags)\//, '');
    const sha = this.refs.get(ref);
    const inputs = (body.inputs ?? {}) as Record<string, string>;
    const unexpected = Object.keys(inputs).filter((name) => !workflow.inputs.includes(name));
    // GitHub refuses these with a 422 that the description does not list for this operation.
    if (!sha) this.violations.push(`${operation.operationId}: ${ref} is not a branch or tag`);
    if (unexpected.length > 0) {
      this.violations.push(`${operation.operationId}: unexpected inputs ${JSON.stringify(unexpected)}`);
    }
    if (!sha || unexpected.length > 0) return { status: 204, body: undefined };
    workflow.run?.({ ref, sha, inputs });
    return { status: 204, body: undefined };
  }

  private deploymentsIn(environment: string): StoredDeployment[] {
    return this.storedDeployments.filter((d) => d.environment === environment).reverse();
  }

  private storeDeployment(options: {
    sha: string;
    ref: string;
    environment: string;
    task?: string;
    payload?: unknown;
    description?: string | null;
    transient?: boolean;
    production?: boolean;
    login: string;
  }): StoredDeployment {
    const deployment: StoredDeployment = {
      id: this.nextId++,
      sha: options.sha,
      ref: options.ref,
      task: options.task ?? 'deploy',
      environment: options.environment,
      payload: options.payload ?? {},
      description: options.description ?? null,
      transient: options.transient ?? false,
      production: options.production ?? options.environment === 'production',
      login: options.login,
      createdAt: this.tick(),
      statuses: [],
    };
    this.storedDeployments.push(deployment);
    return deployment;
  }

  /**
   * A new status; a `success` also marks earlier successful deployments to the same environment inactive,
   * unless they are production or transient ones (auto_inactive, as documented for this operation).
   */
  private addStatus(
    deployment: StoredDeployment,
    options: {
      state: string;
      description?: string;
      logUrl?: string;
      environmentUrl?: string;
      autoInactive?: boolean;
      login: string;
    },
  ): StoredStatus {
    const status: StoredStatus = {
      id: this.nextId++,
      state: options.state,
      description: options.description ?? '',
      logUrl: options.logUrl ?? '',
      environmentUrl: options.environmentUrl ?? '',
      login: options.login,
      createdAt: this.tick(),
    };
    deployment.statuses.push(status);
    if (options.state === 'success' && options.autoInactive !== false) {
      for (const earlier of this.deploymentsIn(deployment.environment)) {
        const latest = earlier.statuses.at(-1)?.state;
        if (earlier.id < deployment.id && !earlier.production && !earlier.transient && latest === 'success') {
          // The causing status's log URL, so that target_url stays the URI the description requires.
          this.addStatus(earlier, {
            state: 'inactive',
            logUrl: options.logUrl,
            login: options.login,
            autoInactive: false,
          });
        }
      }
    }
    return status;
  }

  private renderDeployment(d: StoredDeployment): Schema {
    const repoApi = `${this.url}/repos/${this.owner}/${this.repo}`;
    return {
      url: `${repoApi}/deployments/${d.id}`,
      id: d.id,
      node_id: `DE_kwDO${d.id}`,
      sha: d.sha,
      ref: d.ref,
      task: d.task,
      payload: d.payload,
      original_environment: d.environment,
      environment: d.environment,
      description: d.description,
      creator: user(d.login),
      created_at: d.createdAt,
      updated_at: d.statuses.at(-1)?.createdAt ?? d.createdAt,
      statuses_url: `${repoApi}/deployments/${d.id}/statuses`,
      repository_url: repoApi,
      transient_environment: d.transient,
      production_environment: d.production,
      performed_via_github_app: null,
    };
  }

  private renderStatus(d: StoredDeployment, s: StoredStatus): Schema {
    const repoApi = `${this.url}/repos/${this.owner}/${this.repo}`;
    return {
      url: `${repoApi}/deployments/${d.id}/statuses/${s.id}`,
      id: s.id,
      node_id: `DES_kwDO${s.id}`,
      state: s.state,
      creator: user(s.login),
      description: s.description,
      environment: d.environment,
      // GitHub copies log_url into target_url; both are empty strings when none was given.
      target_url: s.logUrl,
      ...(s.logUrl ? { log_url: s.logUrl } : {}),
      ...(s.environmentUrl ? { environment_url: s.environmentUrl } : {}),
      created_at: s.createdAt,
      updated_at: s.createdAt,
      deployment_url: `${repoApi}/deployments/${d.id}`,
      repository_url: repoApi,
      performed_via_github_app: null,
    };
  }

  private store(issue: number, body: string, login: string): StoredComment {
    const time = this.tick();
    const comment = { id: this.nextId++, issue, body, login, createdAt: time, updatedAt: time };
    this.stored.push(comment);
    return comment;
  }

  private tick(): string {
    this.clock += 60_000;
    return new Date(this.clock).toISOString().replace('.000Z', 'Z');
  }

  private render(c: StoredComment): Schema {
    const repoApi = `${this.url}/repos/${this.owner}/${this.repo}`;
    return {
      id: c.id,
      node_id: `IC_kwDO${c.id}`,
      url: `${repoApi}/issues/comments/${c.id}`,
      html_url: `https://github.com/${this.owner}/${this.repo}/pull/${c.issue}#issuecomment-${c.id}`,
      body: c.body,
      user: user(c.login),
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      issue_url: `${repoApi}/issues/${c.issue}`,
      author_association: c.login.endsWith('[bot]') ? 'NONE' : 'MEMBER',
      performed_via_github_app: null,
    };
  }
}

function user(login: string): Schema {
  const api = `https://api.github.com/users/${encodeURIComponent(login)}`;
  return {
    login,
    id: login.length * 1_000_003,
    node_id: 'MDQ6VXNlcjE=',
    avatar_url: 'https://avatars.githubusercontent.com/u/1',
    gravatar_id: '',
    url: api,
    html_url: `https://github.com/${encodeURIComponent(login)}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: login.endsWith('[bot]') ? 'Bot' : 'User',
    site_admin: false,
  };
}

/** One page, with GitHub's Link header (first/prev/next/last) when there is more than one. */
function page(all: Schema[], url: URL, origin: string): Reply {
  const perPage = Number(url.searchParams.get('per_page') ?? 30);
  const current = Number(url.searchParams.get('page') ?? 1);
  const last = Math.max(1, Math.ceil(all.length / perPage));
  const link = (n: number, rel: string) => {
    const target = new URL(url.pathname, origin);
    for (const [name, value] of url.searchParams) target.searchParams.set(name, value);
    target.searchParams.set('per_page', String(perPage));
    target.searchParams.set('page', String(n));
    return `<${target}>; rel="${rel}"`;
  };
  const links = [
    ...(current > 1 ? [link(current - 1, 'prev'), link(1, 'first')] : []),
    ...(current < last ? [link(current + 1, 'next'), link(last, 'last')] : []),
  ];
  const body = all.slice((current - 1) * perPage, current * perPage);
  return { status: 200, body, headers: links.length > 0 ? { Link: links.join(', ') } : {} };
}

function error(status: number, message: string): Reply {
  return {
    status,
    body: { message, documentation_url: 'https://docs.github.com/rest', status: String(status) },
  };
}

function validationFailed(message = 'Validation Failed'): Reply {
  return {
    status: 422,
    body: {
      message,
      documentation_url: 'https://docs.github.com/rest',
      errors: [{ code: 'missing_field' }],
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
