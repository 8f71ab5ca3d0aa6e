import { readFileSync } from 'node:fs';

/** A pull request that PR side effects (the sticky comment) may act on. */
export interface PullRequestTarget {
  kind: 'pr';
  owner: string;
  repo: string;
  number: number;
  /** REST API root without a trailing slash: https://api.github.com, or the GHES one. */
  apiUrl: string;
  /** GITHUB_JOB, the job id: one sticky comment per action and job. */
  job: string;
}

/** Why there is no pull request to act on; shown to the user as a notice, never an error. */
export interface SkipPullRequest {
  kind: 'skip';
  reason: string;
}

export type PullRequestContext = PullRequestTarget | SkipPullRequest;

export const DEFAULT_API_URL = 'https://api.github.com';

// Events whose payload carries `pull_request`; issue_comment is handled apart (it may be on a plain issue).
const PULL_REQUEST_EVENTS = new Set([
  'pull_request',
  'pull_request_target',
  'pull_request_review',
  'pull_request_review_comment',
]);

/**
 * Finds the pull request the run is about, from the runner's environment and event payload. Never throws:
 * anything missing or unreadable is a `skip` with a reason, because a PR comment is never worth failing a gate.
 */
export function readPullRequestContext(
  env: NodeJS.ProcessEnv = process.env,
  options: { token?: string } = {},
): PullRequestContext {
  if (isTrue(env.ACT)) return skip('running under act (ACT=true): PR side effects are skipped');
  const event = env.GITHUB_EVENT_NAME;
  if (!event) return skip('not running in GitHub Actions (GITHUB_EVENT_NAME is not set)');
  if (!PULL_REQUEST_EVENTS.has(event) && event !== 'issue_comment') {
    return skip(`not a pull request event (${event})`);
  }
  if (!options.token) return skip('no github-token');

  const payload = readPayload(env.GITHUB_EVENT_PATH);
  if (typeof payload === 'string') return skip(payload);
  const number = pullRequestNumber(event, payload);
  if (typeof number === 'string') return skip(number);

  const repository = env.GITHUB_REPOSITORY ?? field(payload, 'repository', 'full_name');
  const [owner, repo, ...rest] = typeof repository === 'string' ? repository.split('/') : [];
  if (!owner || !repo || rest.length > 0) return skip('GITHUB_REPOSITORY is not set to owner/repo');

  return {
    kind: 'pr',
    owner,
    repo,
    number,
    apiUrl: (env.GITHUB_API_URL || DEFAULT_API_URL).replace(/\/+$/, ''),
    job: env.GITHUB_JOB || 'job',
  };
}

function skip(reason: string): SkipPullRequest {
  return { kind: 'skip', reason };
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && value !== '' && !/^(false|0|no)$/i.test(value);
}

/** The parsed payload, or why it could not be had. */
function readPayload(path: string | undefined): unknown {
  if (!path) return 'GITHUB_EVENT_PATH is not set: cannot tell which pull request this is';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return `cannot read the event payload ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
  }
  try {
    return JSON.parse(text);
  } catch {
    return `the event payload ${path} is not valid JSON`;
  }
}

function pullRequestNumber(event: string, payload: unknown): number | string {
  if (event === 'issue_comment') {
    if (field(payload, 'issue', 'pull_request') === undefined)
      return 'the comment is on an issue, not a pull request';
    return positiveInteger(field(payload, 'issue', 'number'), 'issue.number');
  }
  return positiveInteger(field(payload, 'pull_request', 'number'), 'pull_request.number');
}

function positiveInteger(value: unknown, name: string): number | string {
  return Number.isInteger(value) && (value as number) > 0
    ? (value as number)
    : `the event payload has no ${name}`;
}

function field(value: unknown, ...path: string[]): unknown {
  let node = value;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
