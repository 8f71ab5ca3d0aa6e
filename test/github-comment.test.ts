import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stickyMarker, upsertStickyComment } from '../src/github/comment.js';
import { type PullRequestTarget, readPullRequestContext } from '../src/github/context.js';
import { MemoryLogger } from '../src/logging.js';
import { GitHubApiStandIn } from './support/github-api-stand-in.js';

// Distinctive, so any leak into a log line is found by a plain substring search.
const TOKEN = 'ghs_standInSecretToken0123456789abcdef';
const PR = 42;

let api: GitHubApiStandIn;
let logger: MemoryLogger;
let pr: PullRequestTarget;

beforeEach(async () => {
  api = await GitHubApiStandIn.start({ token: TOKEN });
  logger = new MemoryLogger();
  pr = { kind: 'pr', owner: api.owner, repo: api.repo, number: PR, apiUrl: api.url, job: 'gate' };
});

afterEach(async () => {
  await api.close();
});

const marker = stickyMarker('validate-model', 'gate');
const calls = () => api.requests.map((r) => `${r.method} ${r.operationId} ${r.query.page ?? ''}`.trim());

describe('stickyMarker', () => {
  it('is a hidden HTML comment per action, job and optional key', () => {
    expect(stickyMarker('validate-model', 'gate')).toBe('<!-- mlgate:validate-model:gate -->');
    expect(stickyMarker('benchmark', 'perf', 'linux x64')).toBe('<!-- mlgate:benchmark:perf:linux-x64 -->');
    expect(stickyMarker('a', 'evil-->job')).toBe('<!-- mlgate:a:evil---job -->');
  });
});

describe('upsertStickyComment against the GitHub API stand-in', () => {
  it('creates a comment when none carries the marker', async () => {
    api.seed(PR, ['LGTM', 'please rerun']);
    const result = await upsertStickyComment({ token: TOKEN, pr, marker, body: '### ✅ passed' }, logger);

    expect(result).toEqual({ action: 'created', url: expect.stringMatching(/#issuecomment-\d+$/) });
    expect(calls()).toEqual(['GET issues/list-comments 1', 'POST issues/create-comment']);
    expect(api.requests[0].query).toEqual({ per_page: '100', page: '1' });
    const comments = api.comments(PR);
    expect(comments).toHaveLength(3);
    expect(comments[2].body).toBe(`${marker}\n### ✅ passed`);
    expect(comments[2].html_url).toBe(result.url);
    expect(api.violations).toEqual([]);
  });

  it('updates in place when the marker is on page 2', async () => {
    const bodies = Array.from({ length: 150 }, (_, i) => `comment ${i}`);
    bodies[120] = `${marker}\n### ❌ failed (old run)`;
    const ids = api.seed(PR, bodies);

    const result = await upsertStickyComment({ token: TOKEN, pr, marker, body: '### ✅ passed' }, logger);

    expect(result.action).toBe('updated');
    expect(calls()).toEqual([
      'GET issues/list-comments 1',
      'GET issues/list-comments 2',
      'PATCH issues/update-comment',
    ]);
    expect(api.requests[2].path).toBe(`/repos/${api.owner}/${api.repo}/issues/comments/${ids[120]}`);
    const comments = api.comments(PR);
    expect(comments).toHaveLength(150);
    expect(comments[120].body).toBe(`${marker}\n### ✅ passed`);
    expect(result.url).toBe(comments[120].html_url);
    expect(api.violations).toEqual([]);
  });

  it("leaves another job's comment alone", async () => {
    const other = `${stickyMarker('validate-model', 'gate-gpu')}\nother job`;
    const withKey = `${stickyMarker('validate-model', 'gate', 'shard-1')}\nsame job, another key`;
    api.seed(PR, [other, withKey]);

    const result = await upsertStickyComment({ token: TOKEN, pr, marker, body: 'mine' }, logger);

    expect(result.action).toBe('created');
    expect(api.comments(PR).map((c) => c.body)).toEqual([other, withKey, `${marker}\nmine`]);
    expect(api.violations).toEqual([]);
  });

  it("turns a 403 into a warning with GitHub's message and a skipped result", async () => {
    api.failNext('issues/create-comment', 403, 'Resource not accessible by integration');

    const result = await upsertStickyComment({ token: TOKEN, pr, marker, body: 'x' }, logger);

    expect(result.action).toBe('skipped');
    expect(result.reason).toMatch(/answered 403: Resource not accessible by integration/);
    const warnings = logger.lines.filter((l) => l.level === 'warning').map((l) => l.message);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/Resource not accessible by integration.*pull-requests: write/);
    expect(api.comments(PR)).toEqual([]);
    expect(api.violations).toEqual([]);
  });

  it('never writes the token to the log, whatever GitHub answers', async () => {
    api.failNext('issues/list-comments', 404, `no repository visible to ${TOKEN}`);
    const notFound = await upsertStickyComment({ token: TOKEN, pr, marker, body: 'x' }, logger);
    const badToken = await upsertStickyComment({ token: `${TOKEN}-revoked`, pr, marker, body: 'x' }, logger);
    const created = await upsertStickyComment({ token: TOKEN, pr, marker, body: 'x' }, logger);

    expect([notFound.action, badToken.action, created.action]).toEqual(['skipped', 'skipped', 'created']);
    expect(badToken.reason).toMatch(/answered 401: Bad credentials; the github-token is invalid/);
    expect(logger.lines.length).toBeGreaterThanOrEqual(3);
    for (const line of logger.lines) expect(line.message).not.toContain(TOKEN);
    expect(JSON.stringify([notFound, badToken, created])).not.toContain(TOKEN);
    expect(api.violations).toEqual([]);
  });

  it('does not follow a next page to another host with the token', async () => {
    api.seed(PR, ['first']);
    const redirected: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      const headers = new Headers(response.headers);
      headers.set('Link', '<https://attacker.example/steal?page=2>; rel="next"');
      return new Response(await response.text(), { status: response.status, headers });
    };
    const result = await upsertStickyComment(
      { token: TOKEN, pr, marker, body: 'x', fetch: redirected },
      logger,
    );
    expect(result.action).toBe('created');
    expect(calls()).toEqual(['GET issues/list-comments 1', 'POST issues/create-comment']);
  });

  it('cuts a body that GitHub would reject for length', async () => {
    const body = Array.from({ length: 80 }, (_, i) => `## Section ${i}\n\n${'x'.repeat(1000)}\n`).join('\n');
    const result = await upsertStickyComment({ token: TOKEN, pr, marker, body }, logger);
    expect(result.action).toBe('created');
    const [comment] = api.comments(PR);
    expect(comment.body.length).toBeLessThanOrEqual(65536);
    expect(comment.body.startsWith(marker)).toBe(true);
    expect(comment.body).toMatch(/job summary/);
  });

  it('skips with a notice and sends nothing under act (ACT=true)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mlgate-act-'));
    try {
      const eventPath = join(dir, 'event.json');
      await writeFile(eventPath, JSON.stringify({ pull_request: { number: PR } }));
      const context = readPullRequestContext(
        {
          ACT: 'true',
          GITHUB_EVENT_NAME: 'pull_request',
          GITHUB_EVENT_PATH: eventPath,
          GITHUB_REPOSITORY: `${api.owner}/${api.repo}`,
          GITHUB_API_URL: api.url,
        },
        { token: TOKEN },
      );
      const result = await upsertStickyComment({ token: TOKEN, pr: context, marker, body: 'x' }, logger);

      expect(result).toEqual({
        action: 'skipped',
        reason: 'running under act (ACT=true): PR side effects are skipped',
      });
      expect(logger.lines).toEqual([
        {
          level: 'info',
          message: 'PR comment skipped: running under act (ACT=true): PR side effects are skipped',
        },
      ]);
      expect(api.requests).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('warns instead of throwing when GitHub cannot be reached', async () => {
    const unreachable = { ...pr, apiUrl: 'http://127.0.0.1:9' };
    const result = await upsertStickyComment({ token: TOKEN, pr: unreachable, marker, body: 'x' }, logger);
    expect(result.action).toBe('skipped');
    expect(logger.lines.at(-1)).toMatchObject({
      level: 'warning',
      message: expect.stringMatching(/request to GitHub failed/),
    });
  });
});

describe('the GitHub API stand-in itself', () => {
  it('records requests that break the published contract', async () => {
    const base = `${api.url}/repos/${api.owner}/${api.repo}/issues`;
    await fetch(`${base}/${PR}/comments?per_page=500&sort=created`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    await fetch(`${base}/${PR}/comments`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${TOKEN}`,
        Accept: 'application/vnd.github+json',
        'X-GitHub-Api-Version': '2022-11-28',
        'User-Agent': 'test',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ text: 'wrong field' }),
    });
    await fetch(`${base}/${PR}/comments`, { method: 'DELETE' });

    expect(api.violations).toEqual([
      `issues/list-comments (GET /repos/octo-org/models/issues/${PR}/comments): Accept is */*, expected application/vnd.github+json`,
      `issues/list-comments (GET /repos/octo-org/models/issues/${PR}/comments): missing header X-GitHub-Api-Version`,
      `issues/list-comments (GET /repos/octo-org/models/issues/${PR}/comments): undocumented query parameter sort`,
      `issues/list-comments (GET /repos/octo-org/models/issues/${PR}/comments): per_page above 100`,
      `issues/create-comment (POST /repos/octo-org/models/issues/${PR}/comments): request body /: missing required property "body"`,
      `DELETE /repos/octo-org/models/issues/${PR}/comments: not an operation of the contract`,
    ]);
  });
});
