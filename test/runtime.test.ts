import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commands } from '../src/commands/index.js';
import { readValidateModelInputs } from '../src/commands/validate-model.js';
import { ConfigurationError } from '../src/errors.js';
import { loadActionSpec } from '../src/runtime/action-spec.js';
import { readCommonInputs } from '../src/runtime/execute.js';
import { runnerInputs } from '../src/runtime/github.js';
import { recording } from '../src/runtime/inputs.js';
import { helpText, parseFlags, terminalInputs } from '../src/runtime/terminal.js';
import { parseActionFile } from './support/workflow-parser.js';

const actions = readdirSync('actions');

describe('action.yml is the single source of truth for inputs', () => {
  for (const command of commands) {
    it(`every input ${command.name} reads is declared in its action.yml, and every declared input is read`, () => {
      const spec = loadActionSpec(command.name);
      const raw = recording(
        terminalInputs(
          new Map([
            ['model', 'm.onnx'],
            ['label-column', 'y'],
            ['data', 'd.csv'],
            ['metrics', 'metrics: [{ name: x, query: "up{v=\'{{variant}}\'}", threshold: "canary <= 1" }]'],
            ['provider-url', 'http://prometheus:9090'],
            ['target', 'webhook'],
            ['webhook-url', 'http://hooks.example/rollback'],
            ['what', 'churn-model'],
            ['image', 'registry.example/churn-model:1'],
          ]),
          spec,
        ),
      );
      readCommonInputs(raw);
      command.readInputs(raw);
      expect([...raw.names].sort()).toEqual(Object.keys(spec.inputs).sort());
    });
  }

  it('every command has an action whose action.yml GitHub accepts, running the committed bundle on node24', () => {
    for (const command of commands) expect(actions).toContain(command.name);
    for (const action of actions) {
      const spec = parseActionFile(action);
      expect(spec.runs, action).toMatchObject({ using: 'node24', main: 'dist/index.js' });
      expect(spec.name).toBe(`mlgate ${action}`);
      // The runner runs what is committed: there is no install or build step between checkout and `node`.
      expect(existsSync(join('actions', action, 'dist', 'index.js')), `actions/${action}/dist/index.js`).toBe(
        true,
      );
    }
  });

  it('the README tables of every action match its action.yml', () => {
    const check = spawnSync(process.execPath, ['scripts/gen-docs.mjs', '--check'], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    const readme = readFileSync('actions/validate-model/README.md', 'utf8');
    for (const name of Object.keys(loadActionSpec('validate-model').inputs))
      expect(readme).toContain(`| \`${name}\` |`);
  });

  it('the runner face falls back to action.yml defaults for inputs the runner did not pass', () => {
    const raw = runnerInputs('validate-model', { 'INPUT_LABEL-COLUMN': 'churned' });
    expect(raw.get('label-column')).toBe('churned');
    expect(raw.get('min-slice-size')).toBe('30');
    expect(raw.get('fail-on-gate')).toBe('true');
  });

  it('parses typed inputs and names the input in every error', () => {
    const spec = loadActionSpec('validate-model');
    const inputs = (flags: [string, string][]) =>
      readValidateModelInputs(
        terminalInputs(new Map([['model', 'm.onnx'], ['label-column', 'y'], ...flags]), spec),
      );
    expect(inputs([['data', 'a.csv, b/*.csv\nc.parquet']]).data).toEqual(['a.csv', 'b/*.csv', 'c.parquet']);
    expect(inputs([['batch-size', '256']]).batchSize).toBe(256);
    expect(() => inputs([['task', 'ranking']])).toThrow(
      /input "task": expected one of auto, classification, regression/,
    );
    expect(() => inputs([['min-slice-size', 'ten']])).toThrow(/input "min-slice-size"/);
    expect(() => readCommonInputs(terminalInputs(new Map([['comment', 'maybe']]), spec))).toThrow(
      ConfigurationError,
    );
  });
});

describe('the terminal face', () => {
  const spec = loadActionSpec('validate-model');

  it('takes --name value, --name=value, repeated flags (joined by lines) and switches', () => {
    const flags = parseFlags(
      [
        '--model',
        'm.onnx',
        '--gates=accuracy >= 0.9',
        '--gates',
        'f1_macro >= 0.8',
        '--comment',
        '--data',
        'x.csv',
      ],
      spec,
    );
    expect(flags.get('gates')).toBe('accuracy >= 0.9\nf1_macro >= 0.8');
    expect(flags.get('comment')).toBe('true');
    expect(flags.get('data')).toBe('x.csv');
  });

  it('refuses an unknown flag and suggests the closest input', () => {
    expect(() => parseFlags(['--label-colum', 'y'], spec)).toThrow(
      /unknown flag --label-colum \(did you mean --label-column\?\)/,
    );
  });

  it('reads the token from GITHUB_TOKEN, never from the unsubstituted action.yml default', () => {
    expect(terminalInputs(new Map(), spec, {}).get('github-token')).toBe('');
    expect(readCommonInputs(terminalInputs(new Map(), spec, {})).githubToken).toBeUndefined();
    expect(terminalInputs(new Map(), spec, { GITHUB_TOKEN: 't0ken' }).get('github-token')).toBe('t0ken');
  });

  it('lists every input with its default in --help', () => {
    const help = helpText('validate-model', spec);
    expect(help).toContain('--label-column (required)');
    expect(help).toContain('[default: 30]');
    expect(help).not.toContain('${{');
  });
});

describe('npx mlgate (the built CLI)', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['cli/dist/index.js', ...args], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
  const out = mkdtempSync(join(tmpdir(), 'mlgate-cli-'));
  const example = [
    '--model',
    resolve('examples/model.onnx'),
    '--data',
    resolve('examples/test.csv'),
    '--label-column',
    'churned',
    '--slice-columns',
    'region',
  ];

  it('prints the verdict, the gates and where the report is; exit 0 when every gate passes', () => {
    const run = cli(
      'validate-model',
      ...example,
      '--gates',
      'accuracy >= 0.8',
      '--report-path',
      join(out, 'ok.json'),
    );
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('✔ validate-model: all 1 gates passed');
    expect(run.stdout).toMatch(/PASS {2}accuracy >= 0\.8 {2}actual 0\.8744/);
    expect(run.stdout).toContain(`Report: ${join(out, 'ok.json')}`);
  });

  it('exits 1 when a gate fails and 2 on bad input, with one line naming the problem', () => {
    const failed = cli(
      'validate-model',
      ...example,
      '--gates',
      'accuracy >= 0.99',
      '--report-path',
      join(out, 'fail.json'),
    );
    expect(failed.status).toBe(1);
    expect(failed.stdout).toContain('FAIL  accuracy >= 0.99');
    const bad = cli(
      'validate-model',
      ...example,
      '--gates',
      'acuracy >= 0.9',
      '--report-path',
      join(out, 'bad.json'),
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/error: .*acuracy.*accuracy/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    expect(JSON.parse(readFileSync(join(out, 'bad.json'), 'utf8')).error.message).toMatch(/acuracy/);
  });

  it('lists the commands, and exits 2 on an unknown one', () => {
    expect(cli('--help').stdout).toContain('validate-model');
    expect(cli('validate-modle').status).toBe(2);
  });
});
