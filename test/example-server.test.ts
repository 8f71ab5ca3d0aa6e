import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, type ServerOptions, startServer } from '../examples/server/server.js';

const MODEL = fileURLToPath(new URL('../examples/model.onnx', import.meta.url));
const CSV = fileURLToPath(new URL('../examples/test.csv', import.meta.url));

/** The first rows of examples/test.csv as the model's features: every column but `region` and `churned`. */
function csvRows(n: number): number[][] {
  const [header, ...lines] = readFileSync(CSV, 'utf8').trim().split('\n');
  const keep = header.split(',').map((c) => c !== 'region' && c !== 'churned');
  return lines.slice(0, n).map((line) =>
    line
      .split(',')
      .filter((_, i) => keep[i])
      .map(Number),
  );
}

const ROWS = csvRows(3);
const servers: RunningServer[] = [];

async function serve(options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const server = await startServer({ model: MODEL, port: 0, ...options });
  servers.push(server);
  return server;
}

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

function post(server: RunningServer, path: string, body: unknown) {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Just enough of the text exposition format to read back what the server writes. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[name] = value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

function select(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number {
  const found = select(samples, name, labels);
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0].value;
}

async function scrape(server: RunningServer): Promise<Sample[]> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  return parseMetrics(await res.text());
}

describe('example model server', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await serve();
  });

  it('answers /health and /ready', async () => {
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('says "loading" on /ready until readyDelayMs has passed, while /health is up', async () => {
    // Long enough that the first poll lands inside it even on a busy CI machine.
    const slow = await serve({ readyDelayMs: 5000 });
    const seen: number[] = [];
    while (seen.at(-1) !== 200) {
      const res = await fetch(`${slow.url}/ready`);
      const body = await res.json();
      expect(body).toEqual(res.status === 200 ? { status: 'ready' } : { status: 'loading' });
      seen.push(res.status);
      if (res.status === 503) expect((await fetch(`${slow.url}/health`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen[0]).toBe(503);
    expect(new Set(seen)).toEqual(new Set([503, 200]));
  });

  it('predicts one row and a batch alike, as onnxruntime does', async () => {
    const singles: { prediction: number; probabilities: Record<string, number> }[] = [];
    for (const features of ROWS) {
      const res = await post(server, '/predict', { features });
      expect(res.status).toBe(200);
      singles.push(await res.json());
    }
    const res = await post(server, '/predict/batch', { instances: ROWS });
    expect(res.status).toBe(200);
    const batch = await res.json();
    expect(batch.predictions).toEqual(singles.map((s) => s.prediction));
    batch.probabilities.forEach((probabilities: Record<string, number>, i: number) => {
      expect(Object.keys(probabilities)).toEqual(['0', '1']);
      expect(probabilities['0'] + probabilities['1']).toBeCloseTo(1, 5);
      for (const label of ['0', '1'])
        expect(probabilities[label]).toBeCloseTo(singles[i].probabilities[label], 6);
    });

    const session = await ort.InferenceSession.create(MODEL);
    try {
      const input = new ort.Tensor('float32', Float32Array.from(ROWS.flat()), [ROWS.length, 9]);
      const out = await session.run({ input }, ['output_label']);
      const labels = Array.from(out.output_label.data as BigInt64Array, Number);
      expect(singles.map((s) => s.prediction)).toEqual(labels);
      // The answer carries the class that scores highest, so labels and probabilities agree.
      singles.forEach((s, i) => {
        expect(s.probabilities[String(labels[i])]).toBeGreaterThanOrEqual(0.5);
      });
    } finally {
      await session.release();
    }
  });

  const row = ROWS[0];
  it.each([
    ['/predict', 'not json', ['body'], 'json_invalid'],
    ['/predict', [row], ['body'], 'model_attributes_type'],
    ['/predict', { feature: row }, ['body', 'features'], 'missing'],
    ['/predict', { features: 'many' }, ['body', 'features'], 'list_type'],
    ['/predict', { features: row.slice(0, 3) }, ['body', 'features'], 'too_short'],
    ['/predict', { features: [...row, 1] }, ['body', 'features'], 'too_long'],
    [
      '/predict',
      { features: [...row.slice(0, 3), null, ...row.slice(4)] },
      ['body', 'features', 3],
      'float_type',
    ],
    ['/predict', { features: [...row.slice(0, 8), '46'] }, ['body', 'features', 8], 'float_type'],
    ['/predict/batch', { instances: row }, ['body', 'instances', 0], 'list_type'],
    ['/predict/batch', { instances: 'all' }, ['body', 'instances'], 'list_type'],
    ['/predict/batch', { instances: [] }, ['body', 'instances'], 'too_short'],
    ['/predict/batch', { instances: [row, row.slice(1)] }, ['body', 'instances', 1], 'too_short'],
    [
      '/predict/batch',
      { instances: [row, [...row.slice(0, 5), true, ...row.slice(6)]] },
      ['body', 'instances', 1, 5],
      'float_type',
    ],
  ])('answers 422 on %s with %j at the right loc', async (path, body, loc, type) => {
    const res = await post(server, path, body);
    expect(res.status).toBe(422);
    const { detail } = await res.json();
    expect(detail[0]).toMatchObject({ loc, type });
    expect(typeof detail[0].msg).toBe('string');
  });

  it('answers 404, 405 and 413 like FastAPI', async () => {
    expect((await fetch(`${server.url}/nowhere`)).status).toBe(404);
    const wrongMethod = await fetch(`${server.url}/predict`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect((await fetch(`${server.url}/health`, { method: 'DELETE' })).status).toBe(405);
    const huge = { features: row, padding: 'x'.repeat(1024 * 1024) };
    expect((await post(server, '/predict', huge)).status).toBe(413);
    // The server still answers on after refusing a body.
    expect((await post(server, '/predict', { features: row })).status).toBe(200);
  });
});

describe('example model server metrics', () => {
  it('counts requests by status, with cumulative duration buckets', async () => {
    const server = await serve({ variant: 'canary' });
    for (let i = 0; i < 3; i++) await fetch(`${server.url}/health`);
    for (const features of ROWS.slice(0, 2)) await post(server, '/predict', { features });
    await post(server, '/predict', { features: [] });
    await post(server, '/predict/batch', { instances: ROWS });
    await fetch(`${server.url}/nowhere`);

    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of ['http_requests_total', 'model_predictions_total']) {
      expect(text).toContain(`# TYPE ${name} counter`);
      expect(text).toContain(`# HELP ${name} `);
    }
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    const samples = parseMetrics(text);

    const requests = (method: string, path: string, status: string) =>
      value(samples, 'http_requests_total', { variant: 'canary', method, path, status });
    expect(requests('GET', '/health', '200')).toBe(3);
    expect(requests('POST', '/predict', '200')).toBe(2);
    expect(requests('POST', '/predict', '422')).toBe(1);
    expect(requests('POST', '/predict/batch', '200')).toBe(1);
    expect(requests('GET', 'unmatched', '404')).toBe(1);
    expect(select(samples, 'http_requests_total', {}).reduce((n, s) => n + s.value, 0)).toBe(8);
    expect(value(samples, 'model_predictions_total', { variant: 'canary' })).toBe(2 + ROWS.length);

    const expected: Record<string, number> = {
      '/health': 3,
      '/predict': 3,
      '/predict/batch': 1,
      unmatched: 1,
    };
    for (const [path, count] of Object.entries(expected)) {
      const labels = { variant: 'canary', path };
      expect(value(samples, 'http_request_duration_seconds_count', labels)).toBe(count);
      expect(value(samples, 'http_request_duration_seconds_sum', labels)).toBeGreaterThan(0);
      const buckets = select(samples, 'http_request_duration_seconds_bucket', labels);
      expect(buckets.map((b) => b.labels.le)).toEqual([
        ...['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5'],
        '+Inf',
      ]);
      buckets.slice(1).forEach((b, i) => {
        expect(b.value).toBeGreaterThanOrEqual(buckets[i].value);
      });
      expect(buckets.at(-1)!.value).toBe(count);
    }
  });

  it('escapes label values', async () => {
    const server = await serve({ variant: 'a"b\\c\nd' });
    await fetch(`${server.url}/health`);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain('model_predictions_total{variant="a\\"b\\\\c\\nd"} 0');
    expect(select(parseMetrics(text), 'http_requests_total', {})[0].labels.variant).toBe('a"b\\c\nd');
  });

  it('honours extraLatencyMs: predictions still succeed and the duration sum grows', async () => {
    const server = await serve({ extraLatencyMs: 20 });
    const sum = async () =>
      value(await scrape(server), 'http_request_duration_seconds_sum', { path: '/predict' });
    expect((await post(server, '/predict', { features: ROWS[0] })).status).toBe(200);
    const first = await sum();
    expect((await post(server, '/predict', { features: ROWS[1] })).status).toBe(200);
    expect(await sum()).toBeGreaterThan(first);
  });

  it('fails exactly every second predict with errorRate 0.5, and counts the failures', async () => {
    const server = await serve({ errorRate: 0.5 });
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const res = await (i % 3 === 2
        ? post(server, '/predict/batch', { instances: ROWS })
        : post(server, '/predict', { features: ROWS[0] }));
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 500, 200, 500, 200, 500]);
    const samples = await scrape(server);
    const count = (path: string, status: string) =>
      select(samples, 'http_requests_total', { method: 'POST', path, status }).reduce(
        (n, s) => n + s.value,
        0,
      );
    expect(count('/predict', '500') + count('/predict/batch', '500')).toBe(3);
    expect(count('/predict', '200') + count('/predict/batch', '200')).toBe(3);
    // Requests 1, 3 and 5 succeed: 1 row, 3 rows (batch), 1 row.
    expect(value(samples, 'model_predictions_total', {})).toBe(1 + ROWS.length + 1);
  });
});
