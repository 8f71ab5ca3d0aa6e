import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPullRequestContext } from '../src/github/context.js';
import {
  mlgateAction,
  mlgateStepProblems,
  parseWorkflowFile,
  parseWorkflowText,
  WorkflowError,
} from './support/workflow-parser.js';

const workflowsIn = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => join(dir, f))
    : [];
const examples = workflowsIn('workflows-examples');
const repositoryWorkflows = workflowsIn('.github/workflows');

describe('workflows, read by GitHub’s workflow parser', () => {
  for (const path of [...examples, ...repositoryWorkflows]) {
    it(`${path} parses, and its mlgate steps name an action of this repository with inputs its action.yml declares`, async () => {
      const { steps } = await parseWorkflowFile(path);
      const ours = steps.filter((s) => mlgateAction(s));
      if (examples.includes(path)) expect(ours.length, `${path} uses no mlgate action`).toBeGreaterThan(0);
      expect(ours.flatMap((s) => mlgateStepProblems(s, `${path}, job ${s.job}`))).toEqual([]);
    });
  }

  it('fails on a workflow GitHub would refuse, with the parser’s messages and lines', async () => {
    const errors = (text: string[]) =>
      parseWorkflowText('broken.yml', text.join('\n')).then(
        () => [],
        (e: WorkflowError) => e.errors,
      );
    expect(
      await errors([
        'on: pull_request',
        'jobs:',
        '  validate:',
        '    steps:',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, broken on purpose
        '      - run: echo ${{ github.event.pull_request.number ]] }}',
      ]),
    ).toEqual([
      "broken.yml (Line: 5, Col: 14): Unexpected symbol: ']'",
      'broken.yml (Line: 4, Col: 5): Required property is missing: runs-on',
    ]);
    expect(
      await errors([
        'on: pull_request',
        'jobs:',
        '  validate:',
        '    runs-on: ubuntu-latest',
        '    steps: [{ run: echo }]',
        '  report:',
        '    needs: validat',
        '    runs-on: ubuntu-latest',
        '    steps: [{ run: echo }]',
      ]),
    ).toEqual(["broken.yml (Line: 7, Col: 12): Job 'report' depends on unknown job 'validat'."]);
    await expect(parseWorkflowText('broken.yml', 'on: push\njobs: {}')).rejects.toThrow(WorkflowError);
  });

  it('finds an undeclared input, a missing required input and a canary config the action refuses', async () => {
    const { steps } = await parseWorkflowText(
      'typos.yml',
      [
        'on: push',
        'jobs:',
        '  gate:',
        '    runs-on: ubuntu-latest',
        '    steps:',
        '      - uses: octo-org/mlgate/actions/validate-model@v1',
        '        with:',
        '          model: model.onnx',
        '          data: test.csv',
        '          label-colum: churned',
        '      - uses: ./actions/canary-gate',
        '        with:',
        '          provider-url: http://prometheus:9090',
        '          metrics: "metrics: []"',
        '      - uses: ./actions/no-such-action',
      ].join('\n'),
    );
    const problems = steps.flatMap((s) => mlgateStepProblems(s, `typos.yml, job ${s.job}`));
    expect(problems).toEqual([
      'typos.yml, job gate: validate-model has no input "label-colum"',
      'typos.yml, job gate: validate-model needs "label-column"',
      expect.stringMatching(/^typos\.yml, job gate: canary-gate metrics: /),
      expect.stringMatching(/^typos\.yml, job gate: \.\/actions\/no-such-action: .*ENOENT/),
    ]);
  });
});

describe('event payloads for act (workflows-examples/events)', () => {
  const dir = 'workflows-examples/events';
  const payload = (event: string) => JSON.parse(readFileSync(join(dir, `${event}.json`), 'utf8'));
  // Parsed on first use: a broken example fails its own test above, not the collection of this block.
  let parsed: ReturnType<typeof parseAll> | undefined;
  const parseAll = () => Promise.all(examples.map(parseWorkflowFile));
  const parsedExamples = () => (parsed ??= parseAll());

  it('each is JSON named after an event that an example workflow runs on', async () => {
    const events = new Set((await parsedExamples()).flatMap(({ template }) => Object.keys(template.events)));
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      expect(file).toMatch(/\.json$/);
      expect(events, file).toContain(file.replace(/\.json$/, ''));
      expect(() => payload(file.replace(/\.json$/, '')), file).not.toThrow();
    }
  });

  it('pull_request.json has the fields GitHub sends and the actions read: the PR comment finds its pull request', () => {
    const pr = payload('pull_request');
    expect(pr.number).toBe(pr.pull_request.number);
    for (const side of ['head', 'base']) {
      expect(pr.pull_request[side].sha, side).toMatch(/^[0-9a-f]{40}$/);
      expect(pr.pull_request[side].ref, side).toMatch(/^[\w./-]+$/);
    }
    expect(pr.repository.full_name).toMatch(/^[\w.-]+\/[\w.-]+$/);

    const env = { GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: join(dir, 'pull_request.json') };
    const [owner, repo] = pr.repository.full_name.split('/');
    expect(readPullRequestContext(env, { token: 't0ken' })).toMatchObject({
      kind: 'pr',
      owner,
      repo,
      number: pr.number,
    });
    // What act does with the same payload: the comment is skipped, with the reason.
    expect(readPullRequestContext({ ...env, ACT: 'true' }, { token: 't0ken' })).toEqual({
      kind: 'skip',
      reason: expect.stringContaining('act'),
    });
  });

  it('workflow_dispatch.json gives every required input of the examples that run on workflow_dispatch', async () => {
    const { inputs } = payload('workflow_dispatch');
    for (const { template } of await parsedExamples()) {
      const declared = template.events.workflow_dispatch?.inputs ?? {};
      for (const [name, input] of Object.entries(declared))
        if (input.required) expect(inputs, `input ${name}`).toHaveProperty(name);
    }
  });

  it('schedule.json carries a cron that an example is scheduled on', async () => {
    const crons = (await parsedExamples()).flatMap(({ template }) =>
      (template.events.schedule ?? []).map((s) => s.cron),
    );
    expect(crons).toContain(payload('schedule').schedule);
  });
});
