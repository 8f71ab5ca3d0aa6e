import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  mlgateAction,
  mlgateStepProblems,
  parseWorkflowFile,
  parseWorkflowText,
} from './support/workflow-parser.js';

const actions = readdirSync('actions');
const read = (path: string) => readFileSync(path, 'utf8');
const exampleWorkflows = readdirSync('workflows-examples').filter((f) => /\.ya?ml$/.test(f));

/** The ```yaml blocks of a markdown file. */
const yamlBlocks = (markdown: string) => [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);

/** A README example is a whole workflow, one job (`steps:` at the top) or a list of steps. */
function asWorkflow(snippet: string): string {
  if (/^jobs:/m.test(snippet)) return snippet;
  const indent = (text: string, by: string) =>
    text
      .split('\n')
      .map((line) => (line ? by + line : line))
      .join('\n');
  const job = /^steps:/m.test(snippet)
    ? `${/^runs-on:/m.test(snippet) ? '' : 'runs-on: ubuntu-latest\n'}${snippet}`
    : `runs-on: ubuntu-latest\nsteps:\n${indent(snippet, '  ')}`;
  return `on: push\njobs:\n  example:\n${indent(job, '    ')}`;
}

/** Parses every example of a markdown file that uses an mlgate action; returns the problems found. */
async function exampleProblems(path: string, action?: string): Promise<string[]> {
  const examples = yamlBlocks(read(path)).filter((block) =>
    action ? block.includes(`/mlgate/actions/${action}@v1`) : /\/mlgate\/actions\//.test(block),
  );
  if (examples.length === 0) return [`${path}: no yaml example uses ${action ?? 'an mlgate action'}`];
  const problems: string[] = [];
  for (const [i, example] of examples.entries()) {
    const where = `${path}, example ${i + 1}`;
    const { steps } = await parseWorkflowText(where, asWorkflow(example));
    problems.push(...steps.flatMap((s) => mlgateStepProblems(s, where)));
    if (action && !steps.some((s) => mlgateAction(s) === action))
      problems.push(`${where}: no ${action} step`);
  }
  return problems;
}

describe('actions/<name>/README.md', () => {
  for (const action of actions) {
    const path = join('actions', action, 'README.md');

    it(`${path}: a copy-paste example that GitHub parses and whose inputs action.yml declares`, async () => {
      expect(existsSync(path), path).toBe(true);
      expect(await exampleProblems(path, action)).toEqual([]);
    });

    it(`${path}: its gates, the generated tables and the report schema`, () => {
      const readme = read(path);
      expect(readme).toMatch(/^## Gates$/m);
      // The tables' content is checked against action.yml by `gen-docs --check` (test/runtime.test.ts).
      for (const marker of ['inputs:start', 'inputs:end', 'outputs:start', 'outputs:end'])
        expect(readme).toContain(`<!-- ${marker} -->`);
      expect(readme).toContain('](../../docs/report-schema.md)');
    });
  }
});

describe('README.md', () => {
  const readme = read('README.md');

  it('starts with the two commands: the demo and the tests', () => {
    const [title, block] = readme.split(/\n\n/);
    expect(title).toBe('# mlgate');
    const commands = block.split('\n');
    expect(commands[0]).toBe('```sh');
    expect(commands[1]).toMatch(/^npm ci && npm run demo\b/);
    expect(commands[2]).toMatch(/^npm ci && npm test\b/);
    expect(commands[3]).toBe('```');
  });

  it('lists every action in its table, linked to the action’s folder', () => {
    for (const action of actions)
      expect(readme).toMatch(
        new RegExp(`^\\| \\[\`${action}\`\\]\\(actions/${action}\\) \\|.*\\| available \\|$`, 'm'),
      );
  });

  it('has examples that GitHub parses and whose inputs action.yml declares', async () => {
    expect(await exampleProblems('README.md')).toEqual([]);
  });
});

describe('docs/local-runs.md', () => {
  // Continued lines joined: one command per line.
  const commands = read('docs/local-runs.md')
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .filter((line) => line.startsWith('act '));

  for (const file of exampleWorkflows) {
    it(`shows the act command for workflows-examples/${file}, with an event it runs on and a payload that exists`, async () => {
      const command = commands.find((c) => c.includes(` -W workflows-examples/${file} `));
      expect(command, `no act command for ${file}`).toBeDefined();
      const [, event] = command!.split(/\s+/);
      const { template } = await parseWorkflowFile(join('workflows-examples', file));
      expect(Object.keys(template.events)).toContain(event);
      const payload = / -e (\S+)/.exec(command!)?.[1];
      expect(payload, `${file}: no -e event payload`).toBeDefined();
      expect(existsSync(payload!), payload).toBe(true);
    });
  }
});

describe('CHANGELOG.md', () => {
  it('keeps an Unreleased section first, then releases as [X.Y.Z] - YYYY-MM-DD, each with its link', () => {
    const changelog = read('CHANGELOG.md');
    const headings = changelog.match(/^## .*$/gm) ?? [];
    expect(headings[0]).toBe('## [Unreleased]');
    expect(headings.length).toBeGreaterThan(1);
    for (const heading of headings.slice(1)) {
      const version = /^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$/.exec(heading)?.[1];
      expect(version, heading).toBeDefined();
      expect(changelog).toMatch(new RegExp(`^\\[${version!.replace(/\./g, '\\.')}\\]: https://`, 'm'));
    }
  });
});

describe('links between the docs', () => {
  const markdown = [
    'README.md',
    'CHANGELOG.md',
    ...readdirSync('docs')
      .filter((f) => f.endsWith('.md'))
      .map((f) => join('docs', f)),
    ...actions.map((a) => join('actions', a, 'README.md')).filter(existsSync),
  ];

  it('every relative link points at a file or folder that exists', () => {
    const broken = markdown.flatMap((path) =>
      [...read(path).matchAll(/\]\(([^)\s]+)\)/g)]
        .map((m) => m[1].split('#')[0])
        .filter((target) => target && !/^[a-z]+:/.test(target))
        .filter((target) => !existsSync(join(dirname(path), target)))
        .map((target) => `${path}: ${target}`),
    );
    expect(broken).toEqual([]);
  });
});
