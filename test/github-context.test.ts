import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPullRequestContext } from '../src/github/context.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mlgate-context-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let payloads = 0;
/** A runner environment whose event payload file holds `payload` (written as is when it is a string). */
async function runner(
  event: string,
  payload: unknown,
  extra: NodeJS.ProcessEnv = {},
): Promise<NodeJS.ProcessEnv> {
  const path = join(dir, `event-${payloads++}.json`);
  await writeFile(path, typeof payload === 'string' ? payload : JSON.stringify(payload));
  return {
    GITHUB_EVENT_NAME: event,
    GITHUB_EVENT_PATH: path,
    GITHUB_REPOSITORY: 'octo-org/models',
    GITHUB_JOB: 'gate',
    ...extra,
  };
}

const token = { token: 'ghs_x' };
const target = {
  kind: 'pr',
  owner: 'octo-org',
  repo: 'models',
  apiUrl: 'https://api.github.com',
  job: 'gate',
};

describe('readPullRequestContext', () => {
  it.each(['pull_request', 'pull_request_target', 'pull_request_review'])(
    'reads the PR number of %s',
    async (event) => {
      const env = await runner(event, { action: 'opened', pull_request: { number: 7 } });
      expect(readPullRequestContext(env, token)).toEqual({ ...target, number: 7 });
    },
  );

  it('reads a comment on a pull request (issue_comment)', async () => {
    const env = await runner('issue_comment', { issue: { number: 12, pull_request: { url: 'https://x' } } });
    expect(readPullRequestContext(env, token)).toEqual({ ...target, number: 12 });
  });

  it('uses GITHUB_API_URL (GitHub Enterprise Server) without a trailing slash', async () => {
    const env = await runner(
      'pull_request',
      { pull_request: { number: 7 } },
      {
        GITHUB_API_URL: 'https://ghe.example.com/api/v3/',
      },
    );
    expect(readPullRequestContext(env, token)).toMatchObject({ apiUrl: 'https://ghe.example.com/api/v3' });
  });

  it.each([
    ['push', {}, 'not a pull request event (push)'],
    ['issue_comment', { issue: { number: 3 } }, 'the comment is on an issue, not a pull request'],
    ['pull_request', { action: 'opened' }, 'the event payload has no pull_request.number'],
    ['pull_request', 'not json {', /^the event payload .* is not valid JSON$/],
  ])('skips %s with a reason', async (event, payload, reason) => {
    const result = readPullRequestContext(await runner(event, payload), token);
    expect(result.kind).toBe('skip');
    expect(result.kind === 'skip' && result.reason).toMatch(reason);
  });

  it('skips under act before anything else', async () => {
    const env = await runner('pull_request', { pull_request: { number: 7 } }, { ACT: 'true' });
    expect(readPullRequestContext(env, token)).toEqual({
      kind: 'skip',
      reason: 'running under act (ACT=true): PR side effects are skipped',
    });
    expect(readPullRequestContext({ ...env, ACT: 'false' }, token).kind).toBe('pr');
  });

  it('skips without a token', async () => {
    const env = await runner('pull_request', { pull_request: { number: 7 } });
    expect(readPullRequestContext(env, {})).toEqual({ kind: 'skip', reason: 'no github-token' });
    expect(readPullRequestContext(env, { token: '' })).toEqual({ kind: 'skip', reason: 'no github-token' });
  });

  it('never throws on a missing payload, event name or repository', async () => {
    const env = await runner('pull_request', { pull_request: { number: 7 } });
    expect(readPullRequestContext({ ...env, GITHUB_EVENT_PATH: join(dir, 'missing.json') }, token)).toEqual({
      kind: 'skip',
      reason: `cannot read the event payload ${join(dir, 'missing.json')}: ENOENT`,
    });
    expect(readPullRequestContext({ ...env, GITHUB_EVENT_PATH: undefined }, token)).toMatchObject({
      kind: 'skip',
      reason: expect.stringMatching(/GITHUB_EVENT_PATH is not set/),
    });
    expect(readPullRequestContext({ ...env, GITHUB_EVENT_PATH: dir }, token)).toMatchObject({ kind: 'skip' });
    expect(readPullRequestContext({}, token)).toMatchObject({
      kind: 'skip',
      reason: expect.stringMatching(/not running/),
    });
    expect(readPullRequestContext({ ...env, GITHUB_REPOSITORY: 'no-slash' }, token)).toEqual({
      kind: 'skip',
      reason: 'GITHUB_REPOSITORY is not set to owner/repo',
    });
  });

  it('falls back to the payload repository when GITHUB_REPOSITORY is absent', async () => {
    const env = await runner('pull_request', {
      pull_request: { number: 7 },
      repository: { full_name: 'a/b' },
    });
    expect(readPullRequestContext({ ...env, GITHUB_REPOSITORY: undefined }, token)).toMatchObject({
      owner: 'a',
      repo: 'b',
    });
  });
});
