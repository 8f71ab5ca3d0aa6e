import type { Logger } from '../logging.js';
import { MLGATE_VERSION } from '../report/json.js';
import { GITHUB_COMMENT_LIMIT, truncateForComment } from '../report/markdown.js';
import type { PullRequestContext, PullRequestTarget } from './context.js';

export interface StickyCommentOptions {
  token: string;
  /** From readPullRequestContext: a `skip` is logged as a notice and nothing is sent. */
  pr: PullRequestContext;
  /** From stickyMarker(): identifies the comment to update on later runs. */
  marker: string;
  body: string;
  /** Injected in tests; the Node global otherwise. */
  fetch?: typeof fetch;
}

export interface StickyCommentResult {
  action: 'created' | 'updated' | 'skipped';
  url?: string;
  reason?: string;
}

interface IssueComment {
  id: number;
  body?: string;
  html_url: string;
}

const PER_PAGE = 100;
// 100 pages of 100 comments: a PR with more than that is not one we should be scanning on every run.
const MAX_PAGES = 100;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The hidden HTML comment that makes a comment "ours": one per action and job, and per key when one job
 * posts several (a matrix). Characters that could end the HTML comment are replaced.
 */
export function stickyMarker(action: string, job: string, key?: string): string {
  const parts = [action, job, ...(key ? [key] : [])].map((part) => part.replace(/[^A-Za-z0-9_.-]/g, '-'));
  return `<!-- mlgate:${parts.join(':')} -->`;
}

/**
 * Creates the PR comment carrying `marker`, or edits it in place when an earlier run left one. A failure is
 * a warning and a `skipped` result, never an exception: the comment must not decide whether the gate fails.
 */
export async function upsertStickyComment(
  options: StickyCommentOptions,
  logger: Logger,
): Promise<StickyCommentResult> {
  const { pr, token } = options;
  if (pr.kind === 'skip') return skipped(logger, pr.reason, 'info');
  if (!token) return skipped(logger, 'no github-token', 'info');
  const api = new IssueCommentsApi(pr, token, options.fetch ?? fetch);
  const body = withMarker(options.body, options.marker);
  try {
    const existing = await api.findComment(options.marker);
    if (existing) {
      const updated = await api.update(existing.id, body);
      logger.info(`Updated the PR comment: ${updated.html_url}`);
      return { action: 'updated', url: updated.html_url };
    }
    const created = await api.create(body);
    logger.info(`Commented on the PR: ${created.html_url}`);
    return { action: 'created', url: created.html_url };
  } catch (e) {
    const message = e instanceof GitHubApiError ? e.message : `the request to GitHub failed: ${String(e)}`;
    return skipped(logger, redact(`Could not write the PR comment: ${message}`, token), 'warning');
  }
}

function skipped(logger: Logger, reason: string, level: 'info' | 'warning'): StickyCommentResult {
  logger[level](level === 'info' ? `PR comment skipped: ${reason}` : reason);
  return { action: 'skipped', reason };
}

/** The marker first (hidden), then the body cut to what GitHub accepts. */
function withMarker(body: string, marker: string): string {
  return `${marker}\n${truncateForComment(body, GITHUB_COMMENT_LIMIT - marker.length - 1)}`;
}

/** A token must never reach a log, even if an error message were to quote it. */
function redact(text: string, token: string): string {
  return token ? text.split(token).join('***') : text;
}

class GitHubApiError extends Error {}

const HINTS: Record<number, string> = {
  401: 'the github-token is invalid or has expired',
  403:
    'the token may not write comments: give the job `permissions: pull-requests: write` ' +
    '(on pull requests from forks the GITHUB_TOKEN is read-only)',
  404: 'the repository or pull request was not found, or the token cannot see it',
};

/** The three issue-comment operations of GitHub's REST API, over plain fetch to keep the bundle small. */
class IssueCommentsApi {
  constructor(
    private readonly pr: PullRequestTarget,
    private readonly token: string,
    private readonly fetchImpl: typeof fetch,
  ) {}

  /** The oldest comment carrying the marker, reading the pages in order and stopping at the first hit. */
  async findComment(marker: string): Promise<IssueComment | undefined> {
    const { apiUrl, owner, repo, number } = this.pr;
    let url: string | undefined =
      `${apiUrl}/repos/${enc(owner)}/${enc(repo)}/issues/${number}/comments?per_page=${PER_PAGE}&page=1`;
    for (let page = 0; url && page < MAX_PAGES; page++) {
      const response = await this.request('GET', url);
      const comments = (await response.json()) as IssueComment[];
      const found = comments.find((comment) => comment.body?.includes(marker));
      if (found) return found;
      url = this.nextPage(response.headers.get('link'));
    }
    return undefined;
  }

  async create(body: string): Promise<IssueComment> {
    const { apiUrl, owner, repo, number } = this.pr;
    const url = `${apiUrl}/repos/${enc(owner)}/${enc(repo)}/issues/${number}/comments`;
    return (await this.request('POST', url, { body })).json() as Promise<IssueComment>;
  }

  async update(commentId: number, body: string): Promise<IssueComment> {
    const { apiUrl, owner, repo } = this.pr;
    const url = `${apiUrl}/repos/${enc(owner)}/${enc(repo)}/issues/comments/${commentId}`;
    return (await this.request('PATCH', url, { body })).json() as Promise<IssueComment>;
  }

  /** rel="next" from a Link header, only if it stays on the API host: the token must not follow it elsewhere. */
  private nextPage(link: string | null): string | undefined {
    const next = link
      ?.split(',')
      .map((part) => /<([^>]+)>\s*;\s*rel="?next"?/.exec(part)?.[1])
      .find((url) => url !== undefined);
    if (!next) return undefined;
    return new URL(next).origin === new URL(this.pr.apiUrl).origin ? next : undefined;
  }

  private async request(method: string, url: string, json?: { body: string }): Promise<Response> {
    const response = await this.fetchImpl(url, {
      method,
      headers: githubHeaders(this.token, json !== undefined),
      body: json ? JSON.stringify(json) : undefined,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (response.ok) return response;
    throw new GitHubApiError(await describeFailure(method, url, response));
  }
}

async function describeFailure(method: string, url: string, response: Response): Promise<string> {
  let message = response.statusText;
  try {
    const body = (await response.json()) as { message?: unknown };
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not JSON (a proxy's HTML page, say): the status text will do.
  }
  const rateLimited =
    response.headers.get('x-ratelimit-remaining') === '0' ? ' (API rate limit exhausted)' : '';
  const hint = HINTS[response.status] ? `; ${HINTS[response.status]}` : '';
  const { pathname } = new URL(url);
  return `${method} ${pathname} answered ${response.status}: ${message}${rateLimited}${hint}`;
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

/** The headers of every GitHub REST call mlgate makes. */
export function githubHeaders(token: string, json: boolean): Record<string, string> {
  return {
    Authorization: `Bearer ${token}`,
    Accept: 'application/vnd.github+json',
    'X-GitHub-Api-Version': '2022-11-28',
    'User-Agent': `mlgate/${MLGATE_VERSION}`,
    ...(json ? { 'Content-Type': 'application/json' } : {}),
  };
}
