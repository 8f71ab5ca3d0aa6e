import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../examples/server/server.js';
import { benchmark } from '../src/commands/benchmark.js';
import { runCommand } from './support/command.js';

// The benchmark over HTTP against the example model server (examples/server), a real server on loopback.
// Durations are short; no assertion is about speed.

const example = (f: string) => resolve('examples', f);
const FEATURES =
  'tenure_months,monthly_charges,total_charges,contract_months,num_products,support_tickets,days_since_last_login,satisfaction_score,age';
const QUICK = { warmup: '20ms', 'min-duration': '300ms', window: '100ms', 'min-count': '5' };
const run = (inputs: Record<string, string>) => runCommand(benchmark, { ...QUICK, ...inputs });

let good: RunningServer;
let flaky: RunningServer;
beforeAll(async () => {
  good = await startServer({ model: example('model.onnx'), port: 0 });
  flaky = await startServer({ model: example('model.onnx'), port: 0, errorRate: 0.5 });
});
afterAll(async () => {
  await good.close();
  await flaky.close();
});

const rows = { data: example('test.csv'), 'feature-columns': FEATURES };

describe('benchmark of an endpoint', () => {
  it('waits for readiness, sweeps concurrency in a closed loop, and fills bodies from the data', async () => {
    const { outcome, report, details } = await run({
      url: `${good.url}/predict`,
      'ready-url': `${good.url}/ready`,
      concurrency: '1,4',
      'expect-body': 'prediction',
      ...rows,
    });
    expect(outcome.exitCode).toBe(0);
    expect(details.levels.map((l: any) => l.level.value)).toEqual([1, 4]);
    for (const level of details.levels) {
      expect(level.measured.ok).toBe(level.measured.sent);
      expect(level.measured.statusCounts).toEqual({ '200': level.measured.sent });
      expect(level.metrics.error_rate).toBe(0);
    }
    expect(details.target).toMatchObject({ kind: 'http', method: 'POST', loop: { kind: 'closed' } });
    expect(JSON.parse(details.target.bodies.example)).toEqual({
      features: [34, 96.26, 3152.88, 1, 3, 2, 10, 3.6, 46],
    });
    // The default gate over HTTP, judged at each level.
    expect(report.gates.map((g) => [g.expression, g.scope, g.passed])).toEqual([
      ['error_rate <= 0.01', 'level:concurrency=1', true],
      ['error_rate <= 0.01', 'level:concurrency=4', true],
    ]);
  });

  it('sends at a rate in an open loop, constant or Poisson, and a batch endpoint its instances', async () => {
    for (const arrival of ['constant', 'poisson']) {
      const { outcome, details } = await run({ url: `${good.url}/predict`, rate: '100', arrival, ...rows });
      expect(outcome.exitCode).toBe(0);
      expect(details.target.loop).toEqual({ kind: 'open', arrival });
      const [level] = details.levels;
      expect(level.level).toEqual({ name: 'rate', value: 100 });
      // About rate x time; wide margins, the machine is shared.
      const expected = (100 * level.measured.elapsedMs) / 1000;
      expect(level.measured.sent).toBeGreaterThan(expected * 0.5);
      expect(level.measured.sent).toBeLessThan(expected * 1.5);
    }
    const batch = await run({
      url: `${good.url}/predict/batch`,
      'body-template': '{"instances": {{instances}}}',
      'batch-sizes': '4',
      'expect-body': 'predictions',
      ...rows,
    });
    expect(batch.outcome.exitCode).toBe(0);
    expect(JSON.parse(batch.details.target.bodies.example).instances).toHaveLength(4);
  });

  it('counts failed requests, fails the default gate and says why', async () => {
    const { outcome, report, details } = await run({ url: `${flaky.url}/predict`, ...rows });
    expect(outcome.exitCode).toBe(1);
    const [level] = details.levels;
    expect(level.measured.errors.status).toBe(level.measured.sent - level.measured.ok);
    expect(level.metrics.error_rate).toBeGreaterThan(0.3);
    expect(level.metrics.error_rate).toBeLessThan(0.7);
    expect(report.gates[0]).toMatchObject({ expression: 'error_rate <= 0.01', passed: false });
    expect(report.warnings.join('\n')).toMatch(/concurrency=1: \d+ call\(s\) failed; first error: .*500/);
  });

  it('with zero successful requests, gates fail and the report says why', async () => {
    const { outcome, report } = await run({
      url: `${good.url}/predict`,
      'expect-status': '201',
      gates: 'p95_ms <= 1000',
      ...rows,
    });
    expect(outcome.exitCode).toBe(1);
    expect(report.gates[0]).toMatchObject({ passed: false, actual: null });
    expect(report.gates[0].reason).toMatch(/could not be computed/);
    expect(report.warnings.join('\n')).toMatch(/no call succeeded/);
  });

  it('never writes header values to the report or the summary, and masks them on the runner', async () => {
    const secret = 'Bearer s3cr3t-token-value';
    const { outcome, dir } = await run({
      url: `${good.url}/predict`,
      headers: `Authorization: ${secret}\nX-Team: ml`,
      ...rows,
    });
    expect(outcome.exitCode).toBe(0);
    for (const file of ['report.json', 'report.md']) {
      expect(readFileSync(resolve(dir, file), 'utf8')).not.toContain('s3cr3t');
    }
    // The names are kept: what was sent is part of the record.
    expect(JSON.parse(readFileSync(resolve(dir, 'report.json'), 'utf8')).details.target.headers).toEqual([
      'Authorization',
      'X-Team',
    ]);
    expect(benchmark.secrets?.({ get: (n) => (n === 'headers' ? `Authorization: ${secret}` : '') })).toEqual([
      secret,
    ]);
  });

  it('measures a baseline endpoint in alternating windows', async () => {
    const { details } = await run({
      url: `${good.url}/predict`,
      'baseline-url': `${good.url}/predict`,
      trials: '3',
      ...rows,
    });
    const [level] = details.levels;
    expect(level.comparison.kind).toBe('interleaved');
    expect(level.comparison.ratios.p95_ms.low).toBeLessThanOrEqual(level.comparison.ratios.p95_ms.high);
  });

  it('refuses what it cannot run with one clear error (exit 2)', async () => {
    const loading = await startServer({ model: example('model.onnx'), port: 0, readyDelayMs: 60_000 });
    try {
      const cases: [Record<string, string>, RegExp][] = [
        [
          { url: 'http://127.0.0.1:9/predict', ...rows },
          /input "url": nothing answers there \(.*ECONNREFUSED/,
        ],
        [
          {
            url: `${loading.url}/predict`,
            'ready-url': `${loading.url}/ready`,
            'ready-timeout': '1s',
            ...rows,
          },
          /input "ready-url"/,
        ],
        [
          { url: `${good.url}/predict`, 'body-template': '{"x": {{nope}}}', ...rows },
          /input "body-template"/,
        ],
        [
          { url: `${good.url}/predict`, headers: 'not a header line' },
          /input "headers": line 1 is not "Name: value"/,
        ],
        [{ url: 'ftp://example.com/' }, /input "url": expected an http:\/\/ or https:\/\/ URL/],
        [{ url: `${good.url}/predict`, 'expect-status': 'ok' }, /input "expect-status"/],
      ];
      for (const [inputs, message] of cases) {
        const r = await run(inputs);
        expect(r.outcome.exitCode, JSON.stringify(inputs)).toBe(2);
        expect(r.message).toMatch(message);
        expect(r.report.error?.message).toBe(r.message);
      }
    } finally {
      await loading.close();
    }
  });
});
