/**
 * A real Prometheus on 127.0.0.1 for the canary demo and the tests: the `prometheus` binary (Debian's
 * package), a throwaway data directory, scraping live targets and/or serving data backfilled with
 * `promtool tsdb create-blocks-from openmetrics`. Stopping it removes the data directory.
 *
 * Prometheus queries a backfilled block only while it is inside the retention window, so backfilled
 * timestamps should lie within the last few hours; retention here is ten years, which keeps anything recent.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

function onPath(name: string): string | undefined {
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p));
}

export const prometheusBinary: string | undefined = onPath('prometheus');
/** Needed only to backfill. */
export const promtoolBinary: string | undefined = onPath('promtool');

export interface RunningPrometheus {
  url: string;
  dataDir: string;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** OpenMetrics text (timestamps in seconds; `# EOF` added when missing) loaded into the TSDB before start. */
  backfill?: string;
  /**
   * host:port targets scraped as job "mlgate". The first scrape comes about 5 s after start: service
   * discovery hands targets over on a 5 s tick.
   */
  scrapeTargets?: string[];
  /** Default 1s. */
  scrapeInterval?: string;
  /** How long to wait for /-/ready. Default 30000. */
  readyTimeoutMs?: number;
}

/** Child processes still running, with the directory each one owns. */
const running = new Map<ChildProcess, string>();
// An interrupted demo or a crashed test run must leave neither servers nor data directories behind.
process.once('exit', () => {
  for (const [child, dir] of running) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

export async function startPrometheus(options: PrometheusOptions = {}): Promise<RunningPrometheus> {
  const prometheus = prometheusBinary;
  if (!prometheus) throw new Error('prometheus is not installed (Debian/Ubuntu: apt-get install prometheus)');
  const dir = await mkdtemp(join(tmpdir(), 'mlgate-prometheus-'));
  const dataDir = join(dir, 'data');
  try {
    if (options.backfill?.trim()) await backfill(options.backfill, dir, dataDir);
    const config = join(dir, 'prometheus.yml');
    await writeFile(config, configText(options));
    // The port is free when picked but could be taken before Prometheus binds it: try a few.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        const child = await launch(prometheus, config, dir, port, options.readyTimeoutMs ?? 30_000);
        const url = `http://127.0.0.1:${port}`;
        return { url, dataDir, stop: () => stop(child, dir) };
      } catch (e) {
        if (attempt >= 3 || !/address already in use/.test((e as Error).message)) throw e;
      }
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function backfill(openMetrics: string, dir: string, dataDir: string) {
  if (!promtoolBinary)
    throw new Error('promtool is not installed (Debian/Ubuntu: apt-get install prometheus)');
  const text = /^# EOF\s*$/m.test(openMetrics) ? openMetrics : `${openMetrics.trimEnd()}\n# EOF\n`;
  const input = join(dir, 'input.om');
  await writeFile(input, text);
  try {
    await promisify(execFile)(promtoolBinary, ['tsdb', 'create-blocks-from', 'openmetrics', input, dataDir]);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`promtool could not backfill the OpenMetrics text: ${err.stderr || err.message}`);
  }
}

function configText(options: PrometheusOptions): string {
  const lines = ['global:', `  scrape_interval: ${options.scrapeInterval ?? '1s'}`];
  if (options.scrapeTargets?.length) {
    lines.push(
      'scrape_configs:',
      '  - job_name: mlgate',
      '    static_configs:',
      `      - targets: [${options.scrapeTargets.map((t) => JSON.stringify(t)).join(', ')}]`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function launch(
  binary: string,
  config: string,
  dir: string,
  port: number,
  readyTimeoutMs: number,
): Promise<ChildProcess> {
  const child = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=10y',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.set(child, dir);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    running.delete(child);
    exited = `prometheus exited (${signal ?? code}) before it was ready: ${stderr.trim()}`;
  });
  const deadline = Date.now() + readyTimeoutMs;
  while (exited === undefined) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/-/ready`);
      if (res.ok) return child;
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus was not ready within ${readyTimeoutMs} ms: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(exited);
}

async function stop(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await rm(dir, { recursive: true, force: true });
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
