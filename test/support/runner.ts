import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Runs a bundled action the way the GitHub runner does: `node dist/index.js` from a copy of the
 * action folder with no node_modules anywhere above it, inputs as INPUT_* variables, and the
 * GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files read back afterwards.
 */
export class RunnerSandbox {
  readonly root = mkdtempSync(join(tmpdir(), 'mlgate-runner-'));
  readonly actionDir: string;
  readonly workspace = join(this.root, 'workspace');
  readonly toolCache = join(this.root, 'toolcache');
  private runs = 0;

  constructor(action: string) {
    this.actionDir = join(this.root, 'actions', action);
    mkdirSync(this.actionDir, { recursive: true });
    cpSync(resolve('actions', action, 'action.yml'), join(this.actionDir, 'action.yml'));
    cpSync(resolve('actions', action, 'dist'), join(this.actionDir, 'dist'), { recursive: true });
    mkdirSync(this.workspace, { recursive: true });
    mkdirSync(this.toolCache, { recursive: true });
    if (existsSync(join(this.root, 'node_modules'))) throw new Error('sandbox must not see a node_modules');
  }

  /** Async, so that a stand-in server in the test process can answer the action while it runs. */
  async run(inputs: Record<string, string>, env: Record<string, string> = {}) {
    const n = ++this.runs;
    const output = join(this.root, `output-${n}.txt`);
    const summary = join(this.root, `summary-${n}.md`);
    writeFileSync(output, '');
    writeFileSync(summary, '');
    const inputEnv = Object.fromEntries(
      Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]),
    );
    const child = spawn(process.execPath, [join(this.actionDir, 'dist', 'index.js')], {
      cwd: this.workspace,
      timeout: 600_000,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        // npm's cache already holds the pinned tarballs: the install verifies them without the network.
        npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? '', '.npm'),
        npm_config_prefer_offline: 'true',
        GITHUB_ACTIONS: 'true',
        GITHUB_OUTPUT: output,
        GITHUB_STEP_SUMMARY: summary,
        GITHUB_WORKSPACE: this.workspace,
        RUNNER_TOOL_CACHE: this.toolCache,
        RUNNER_TEMP: join(this.root, 'temp'),
        ...inputEnv,
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const status = await new Promise<number | null>((done) => child.on('close', done));
    return {
      status,
      stdout,
      stderr,
      outputs: parseOutputFile(readFileSync(output, 'utf8')),
      summary: readFileSync(summary, 'utf8'),
    };
  }
}

/** GITHUB_OUTPUT holds `name<<DELIMITER\nvalue\nDELIMITER` blocks (what @actions/core writes). */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]);
    if (!m) continue;
    const [, name, delimiter] = m;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i]);
    outputs[name] = value.join('\n');
  }
  return outputs;
}
