import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canaryGate } from '../src/commands/canary-gate.js';
import { runCommand } from './support/command.js';
import { prometheusAvailable, type RunningPrometheus, startPrometheus } from './support/prometheus.js';

// canary-gate against a real Prometheus (Debian's package), its TSDB backfilled by promtool with 30
// minutes of series for a stable release and several canaries, each a scenario. Iterations are
// milliseconds apart: the data is already there.

const NOW = Math.floor(Date.now() / 1000);
const STEP = 15;

/** The backfill: per variant, request counters by status and a p95 latency gauge. */
function openMetrics(): string {
  const variants: Record<string, { ok: number; errors: number; latency: number } | 'nan'> = {
    stable: { ok: 10, errors: 0.01, latency: 0.1 },
    good: { ok: 10, errors: 0.01, latency: 0.1 },
    errors: { ok: 10, errors: 1, latency: 0.1 },
    slow: { ok: 10, errors: 0.01, latency: 0.15 },
    nan: 'nan',
    gone: { ok: 10, errors: 0.01, latency: 0.1 },
  };
  const lines = ['# TYPE requests counter', '# TYPE latency_p95_seconds gauge'];
  const counters: string[] = [];
  const gauges: string[] = [];
  for (const [variant, v] of Object.entries(variants)) {
    // "gone" stopped reporting 20 minutes ago.
    const end = variant === 'gone' ? NOW - 1200 : NOW;
    for (let t = NOW - 1800, i = 0; t <= end; t += STEP, i++) {
      if (v === 'nan') {
        gauges.push(`latency_p95_seconds{variant="${variant}"} NaN ${t}`);
        continue;
      }
      // Deterministic noise of +-5% so that the samples differ, as real ones do.
      const noise = 1 + 0.05 * Math.sin(i * 1.7 + variant.length);
      counters.push(`requests_total{variant="${variant}",status="200"} ${(v.ok * STEP * i).toFixed(3)} ${t}`);
      counters.push(
        `requests_total{variant="${variant}",status="500"} ${(v.errors * STEP * i).toFixed(3)} ${t}`,
      );
      gauges.push(`latency_p95_seconds{variant="${variant}"} ${(v.latency * noise).toFixed(5)} ${t}`);
    }
  }
  // OpenMetrics wants each metric family's samples together.
  return [lines[0], ...counters, lines[1], ...gauges, '# EOF', ''].join('\n');
}

const CONFIG = (canary: string, extra = '') => `
variants: { canary: ${canary}, baseline: stable }
groups: { errors: 50, latency: 50 }
metrics:
  - name: error-rate
    group: errors
    critical: true
    query: sum(rate(requests_total{variant="{{variant}}",status="500"}[1m])) / sum(rate(requests_total{variant="{{variant}}"}[1m]))
    threshold: canary - baseline <= 0.01
  - name: p95-latency
    group: latency
    kind: statistical
    query: max(latency_p95_seconds{variant="{{variant}}"})
    direction: increase
    allowed-increase: 1.1
    min-samples: 10
${extra}`;

let prometheus: RunningPrometheus;
beforeAll(async () => {
  if (prometheusAvailable) prometheus = await startPrometheus(openMetrics());
});
afterAll(() => prometheus?.stop());

const run = (inputs: Record<string, string>) =>
  runCommand(canaryGate, {
    'provider-url': prometheus.url,
    interval: '10ms',
    iterations: '2',
    lookback: '10m',
    retries: '0',
    ...inputs,
  });

describe.skipIf(!prometheusAvailable)('canary-gate against a real Prometheus', () => {
  it('promotes a healthy canary, with every metric judged and explained', async () => {
    const { outcome, report, details } = await run({ metrics: CONFIG('good') });
    expect(details.reason).toMatch(/every metric passed/);
    expect(details.decision).toBe('promote');
    expect(outcome.exitCode).toBe(0);
    expect(report.metrics.score).toBe(100);
    const [errors, latency] = details.metrics;
    expect(errors).toMatchObject({ verdict: 'pass', kind: 'threshold' });
    expect(errors.last.canary).toBeCloseTo(0.001, 3);
    expect(latency).toMatchObject({ verdict: 'pass', kind: 'statistical' });
    expect(latency.last.canary.samples).toBeGreaterThanOrEqual(10);
    expect(details.iterations).toHaveLength(2);
  });

  it('rolls back on an error-rate regression of a critical metric', async () => {
    const { outcome, details } = await run({ metrics: CONFIG('errors') });
    expect(details.decision).toBe('rollback');
    expect(details.reason).toMatch(/critical metric failed: error-rate/);
    expect(outcome.exitCode).toBe(1);
    // failure-limit 0: the first failed measurement stops the analysis.
    expect(details.iterations).toHaveLength(1);
  });

  it('rolls back on a latency regression found by the statistical test', async () => {
    const { details, report } = await run({ metrics: CONFIG('slow') });
    expect(details.decision).toBe('rollback');
    const latency = details.metrics.find((m: any) => m.name === 'p95-latency');
    expect(latency.verdict).toBe('fail');
    expect(latency.last.classification).toBe('High');
    expect(latency.last.interval[0]).toBeGreaterThan(0);
    expect(report.metrics.score).toBe(50);
  });

  it('calls a canary without traffic inconclusive, and fail-on decides the exit code', async () => {
    const strict = await run({ metrics: CONFIG('idle') });
    expect(strict.details.decision).toBe('inconclusive');
    expect(strict.details.metrics.map((m: any) => m.verdict)).toEqual(['inconclusive', 'inconclusive']);
    expect(strict.details.metrics[0].reason).toMatch(/^no data: canary: .*no-data: inconclusive/);
    expect(strict.outcome.exitCode).toBe(1);
    const lenient = await run({ metrics: CONFIG('idle'), 'fail-on': 'rollback' });
    expect(lenient.details.decision).toBe('inconclusive');
    expect(lenient.outcome.exitCode).toBe(0);
    // The policy can say otherwise: no data fails the metric.
    const failing = await run({
      metrics: CONFIG('idle').replaceAll('    group: errors', '    group: errors\n    no-data: fail'),
    });
    expect(failing.details.decision).toBe('rollback');
  });

  it('treats NaN values as no data, never as a pass', async () => {
    const { details } = await run({ metrics: CONFIG('nan') });
    expect(details.decision).toBe('inconclusive');
    const latency = details.metrics.find((m: any) => m.name === 'p95-latency');
    expect(latency.reason).toMatch(/fewer than min-samples|no data/);
  });

  it('judges a dry-run metric and reports it, but never lets it decide', async () => {
    const dry = CONFIG('slow').replace('    group: latency', '    group: latency\n    dry-run: true');
    const { details } = await run({ metrics: dry });
    const latency = details.metrics.find((m: any) => m.name === 'p95-latency');
    expect(latency).toMatchObject({ verdict: 'fail', dryRun: true });
    expect(details.decision).toBe('promote');
  });

  it('stops early and promotes after enough iterations in a row where every metric passed', async () => {
    const { details } = await run({
      metrics: CONFIG('good'),
      iterations: '10',
      'consecutive-successes': '3',
    });
    expect(details.decision).toBe('promote');
    expect(details.iterations).toHaveLength(3);
    expect(details.reason).toMatch(/passed 3 iterations in a row/);
  });

  it('treats stale data as no data', async () => {
    // Prometheus keeps a stopped series for 5 minutes: its range points end 15 minutes ago, past max-age.
    const { details } = await run({ metrics: CONFIG('gone'), lookback: '30m' });
    expect(details.decision).toBe('inconclusive');
    const latency = details.metrics.find((m: any) => m.name === 'p95-latency');
    expect(latency.reason).toMatch(/canary: the newest sample is \d+ s old \(max-age 120 s\)/);
  });

  it('refuses a query Prometheus cannot parse with exit 2 naming the query', async () => {
    const { outcome, message } = await run({
      metrics: CONFIG('good').replace(
        'max(latency_p95_seconds{variant="{{variant}}"})',
        'rate(latency_p95_seconds{variant="{{variant}}"}[',
      ),
    });
    expect(outcome.exitCode).toBe(2);
    expect(message).toMatch(/rate\(latency_p95_seconds\{variant="good"\}\[/);
  });
});

describe('canary-gate when the provider fails', () => {
  let silent: Server;
  let silentUrl: string;
  beforeAll(async () => {
    // A server that accepts and never answers: a Prometheus that hangs.
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    silent.closeAllConnections();
    silent.close();
  });

  const config = `
metrics:
  - name: error-rate
    query: sum(rate(requests_total{variant="{{variant}}",status="500"}[1m]))
    threshold: canary <= 0.01
`;

  it('counts a refused connection as an error and never promotes', async () => {
    const { outcome, details, report } = await runCommand(canaryGate, {
      metrics: config,
      'provider-url': 'http://127.0.0.1:9',
      interval: '10ms',
      iterations: '5',
      'error-limit': '1',
      retries: '0',
    });
    expect(details.decision).toBe('inconclusive');
    expect(details.reason).toMatch(/failed 2 times in a row \(error-limit 1\)/);
    expect(report.metrics.provider_errors).toBe(2);
    expect(outcome.exitCode).toBe(1);
  });

  it('counts a timeout as an error and never promotes', async () => {
    const { details } = await runCommand(canaryGate, {
      metrics: config,
      'provider-url': silentUrl,
      interval: '10ms',
      iterations: '1',
      'request-timeout': '200ms',
      retries: '0',
    });
    expect(details.decision).toBe('inconclusive');
    expect(details.metrics[0].verdict).toBe('error');
    expect(details.metrics[0].reason).toMatch(/no complete answer within 200 ms/);
  });

  it('refuses a config it cannot use, naming the key', async () => {
    const cases: [string, RegExp][] = [
      ['metrics: []', /metrics: needs a list of metrics/],
      [`${config}    treshold: 1\n`, /metrics\[0\]: unknown key "treshold"/],
      [
        'metrics:\n  - name: x\n    query: up\n    threshold: canary <= 1\n',
        /no \{\{variant\}\} placeholder/,
      ],
      [
        'metrics:\n  - name: x\n    query: up{v="{{variant}}"}\n    threshold: canary ~ 1\n',
        /cannot read "canary ~ 1"/,
      ],
    ];
    for (const [metrics, pattern] of cases) {
      const r = await runCommand(canaryGate, { metrics, 'provider-url': 'http://127.0.0.1:9' });
      expect(r.outcome.exitCode, metrics).toBe(2);
      expect(r.message).toMatch(pattern);
    }
  });
});
