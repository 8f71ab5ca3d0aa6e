import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  httpJsonProvider,
  type MetricProvider,
  ProviderError,
  prometheusProvider,
  type QueryResult,
} from '../src/canary/providers.js';
import { ConfigurationError } from '../src/errors.js';
import { rejection } from './support/errors.js';
import {
  freePort,
  prometheusAvailable,
  type RunningPrometheus,
  startPrometheus,
} from './support/prometheus.js';

function value(result: QueryResult) {
  if (result.kind !== 'value') throw new Error(`expected a value, got ${JSON.stringify(result)}`);
  return result;
}

function samples(result: QueryResult) {
  if (result.kind !== 'samples') throw new Error(`expected samples, got ${JSON.stringify(result)}`);
  return result;
}

// Backfilled data sits an hour back, inside Prometheus' retention window, on whole minutes.
const BASE = Math.floor(Date.now() / 1000 / 60) * 60 - 3600;
const at = (seconds: number) => new Date((BASE + seconds) * 1000);
const canary = (i: number) => Number((0.1 + i * 0.01).toFixed(2));
const baseline = (i: number) => Number((0.2 + i * 0.01).toFixed(2));

function series(name: string, labels: string, values: (i: number) => number | string): string {
  return Array.from({ length: 10 }, (_, i) => `${name}{${labels}} ${values(i)} ${BASE + i * 60}`).join('\n');
}

const OPEN_METRICS = [
  '# TYPE latency_seconds gauge',
  series('latency_seconds', 'track="canary"', canary),
  series('latency_seconds', 'track="baseline"', baseline),
  '# TYPE odd_value gauge',
  series('odd_value', 'kind="nan"', () => 'NaN'),
  series('odd_value', 'kind="inf"', () => '+Inf'),
  '# TYPE pod_errors gauge',
  series('pod_errors', 'pod="a"', () => 1),
  series('pod_errors', 'pod="b"', () => 2),
  '# EOF',
  '',
].join('\n');

describe.skipIf(!prometheusAvailable)('prometheus provider against a real Prometheus', () => {
  let prometheus: RunningPrometheus;
  let provider: MetricProvider;
  beforeAll(async () => {
    prometheus = await startPrometheus(OPEN_METRICS);
    provider = prometheusProvider({ url: prometheus.url });
  });
  afterAll(() => prometheus?.stop());

  it('answers an instant query on a gauge with its value and series', async () => {
    const result = value(await provider.instant('latency_seconds{track="canary"}', at(5 * 60 + 10)));
    expect(result.sample).toEqual({ t: BASE + 310, v: canary(5) });
    expect(result.series).toEqual({ __name__: 'latency_seconds', track: 'canary' });
    // An aggregation or arithmetic gives one unnamed series; a scalar has none.
    const ratio = value(
      await provider.instant(
        'sum(latency_seconds{track="canary"}) / sum(latency_seconds{track="baseline"})',
        at(0),
      ),
    );
    expect(ratio.sample.v).toBeCloseTo(canary(0) / baseline(0), 12);
    expect(ratio.series).toEqual({});
    expect(value(await provider.instant('1 + 1', at(0)))).toMatchObject({ sample: { t: BASE, v: 2 } });
  });

  it("answers a range query with the series' points, oldest first", async () => {
    const result = samples(await provider.range('latency_seconds{track="baseline"}', at(0), at(540), 60));
    expect(result.samples).toEqual(
      Array.from({ length: 10 }, (_, i) => ({ t: BASE + i * 60, v: baseline(i) })),
    );
    expect(result.series).toEqual({ __name__: 'latency_seconds', track: 'baseline' });
  });

  it('reads NaN and ±Inf stored in the TSDB', async () => {
    expect(value(await provider.instant('odd_value{kind="nan"}', at(60))).sample.v).toBeNaN();
    expect(value(await provider.instant('odd_value{kind="inf"}', at(60))).sample.v).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(value(await provider.instant('-odd_value{kind="inf"}', at(60))).sample.v).toBe(
      Number.NEGATIVE_INFINITY,
    );
    const points = samples(await provider.range('odd_value{kind="nan"}', at(0), at(120), 60)).samples;
    expect(points).toHaveLength(3);
    for (const p of points) expect(p.v).toBeNaN();
  });

  it('gives no-data, naming the query, when nothing matches', async () => {
    const query = 'latency_seconds{track="nope"}';
    const instant = await provider.instant(query, at(60));
    expect(instant.kind).toBe('no-data');
    expect(instant.kind === 'no-data' && instant.reason).toContain(query);
    const range = await provider.range(query, at(0), at(540), 60);
    expect(range.kind).toBe('no-data');
    expect(range.kind === 'no-data' && range.reason).toContain(query);
    // Before the first sample there is nothing to look back to.
    expect((await provider.instant('latency_seconds{track="canary"}', at(-600))).kind).toBe('no-data');
  });

  it('refuses a query matching several series, listing their label sets', async () => {
    for (const e of [
      await rejection(provider.instant('pod_errors', at(60))),
      await rejection(provider.range('pod_errors', at(0), at(120), 60)),
    ]) {
      expect(e).toBeInstanceOf(ConfigurationError);
      expect(e.message).toContain('`pod_errors` returned 2 series');
      expect(e.message).toContain('pod_errors{pod="a"}, pod_errors{pod="b"}');
      expect(e.message).toContain('sum without (pod)');
    }
  });

  it("refuses a bad query with Prometheus' own message", async () => {
    const e = await rejection(provider.instant('rate(foo[', at(60)));
    expect(e).toBeInstanceOf(ConfigurationError);
    expect(e.message).toContain('`rate(foo[`');
    expect(e.message).toMatch(/bad_data: .*parse error/);
    // A range vector is a valid query but not a number.
    const range = await rejection(provider.instant('latency_seconds{track="canary"}[5m]', at(60)));
    expect(range).toBeInstanceOf(ConfigurationError);
    expect(range.message).toContain('range vector');
  });
});

/**
 * A stand-in for a Prometheus server, or for what sits in front of one (an auth proxy): a real HTTP server on
 * 127.0.0.1 that records each request and answers as scripted. It speaks only as much of the HTTP API as the
 * test needs; real query behaviour is tested against the real Prometheus above.
 */
interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Script = (req: Recorded, res: ServerResponse) => void;

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function standIn(script: Script): Promise<{ url: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const recorded = { method: req.method!, url: req.url!, headers: req.headers, body };
    requests.push(recorded);
    script(recorded, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const VECTOR = {
  status: 'success',
  data: { resultType: 'vector', result: [{ metric: { job: 'api' }, value: [1700000000, '0.25'] }] },
};
const TOKEN = 'tok-9f8e7d6c5b4a';

describe('prometheus provider: transport, auth and failures', () => {
  it('sends the bearer token and extra headers, under the url path prefix', async () => {
    const server = await standIn((_, res) => json(res, 200, VECTOR));
    const provider = prometheusProvider({
      url: `${server.url}/prom`,
      bearerToken: TOKEN,
      headers: { 'X-Scope-OrgID': 'tenant-1' },
    });
    const result = value(await provider.instant('up', new Date(1_700_000_000_000)));
    expect(result).toEqual({ kind: 'value', sample: { t: 1700000000, v: 0.25 }, series: { job: 'api' } });
    const [req] = server.requests;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/prom/api/v1/query');
    expect(Object.fromEntries(new URLSearchParams(req.body))).toEqual({ query: 'up', time: '1700000000' });
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req.headers['x-scope-orgid']).toBe('tenant-1');
  });

  it('sends basic auth', async () => {
    const server = await standIn((_, res) => json(res, 200, VECTOR));
    await prometheusProvider({
      url: server.url,
      basicAuth: { username: 'alice', password: 'pa55-word' },
    }).instant('up');
    expect(server.requests[0].headers.authorization).toBe(
      `Basic ${Buffer.from('alice:pa55-word').toString('base64')}`,
    );
  });

  it('turns a 401 into a ConfigurationError that does not show the token, without retrying', async () => {
    const server = await standIn((_, res) => json(res, 401, { error: 'unauthorized' }));
    const e = await rejection(prometheusProvider({ url: server.url, bearerToken: TOKEN }).instant('up'));
    expect(e).toBeInstanceOf(ConfigurationError);
    expect(e.message).toContain('refused the credentials (HTTP 401)');
    expect(e.message).toContain('bearer token');
    expect(e.message).not.toContain(TOKEN);
    expect(server.requests).toHaveLength(1);
  });

  it('scrubs secrets that a server echoes into its error', async () => {
    const server = await standIn((req, res) =>
      json(res, 400, {
        status: 'error',
        errorType: 'bad_data',
        error: `bad header ${req.headers.authorization}`,
      }),
    );
    const e = await rejection(prometheusProvider({ url: server.url, bearerToken: TOKEN }).instant('up'));
    expect(e).toBeInstanceOf(ConfigurationError);
    expect(e.message).toContain('bad_data: bad header ***');
    expect(e.message).not.toContain(TOKEN);
  });

  it('retries a 5xx and gives a ProviderError with the server message when it persists', async () => {
    let calls = 0;
    const flaky = await standIn((_, res) =>
      ++calls < 3
        ? json(res, 503, { status: 'error', errorType: 'timeout', error: 'query timed out' })
        : json(res, 200, VECTOR),
    );
    expect(value(await prometheusProvider({ url: flaky.url, backoffMs: 1 }).instant('up')).sample.v).toBe(
      0.25,
    );
    expect(flaky.requests).toHaveLength(3);

    const down = await standIn((_, res) =>
      json(res, 503, { status: 'error', errorType: 'timeout', error: 'query timed out' }),
    );
    const e = await rejection(prometheusProvider({ url: down.url, retries: 1, backoffMs: 1 }).instant('up'));
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ kind: 'server', attempts: 2 });
    expect(e.message).toContain('HTTP 503: timeout: query timed out');
    expect(down.requests).toHaveLength(2);
  });

  it('gives a ProviderError after the retries when nothing listens (Prometheus down)', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const e = await rejection(prometheusProvider({ url, retries: 2, backoffMs: 1 }).instant('up'));
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ kind: 'network', attempts: 3 });
    expect(e.message).toContain('ECONNREFUSED');
    expect(e.message).toContain('`up`');
  });

  it('gives a ProviderError of kind timeout when the server never answers', async () => {
    const silent = await standIn(() => {});
    const e = await rejection(
      prometheusProvider({ url: silent.url, timeoutMs: 100, retries: 1, backoffMs: 1 }).range(
        'up',
        new Date(0),
        new Date(60_000),
        15,
      ),
    );
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ kind: 'timeout', attempts: 2 });
    expect(silent.requests).toHaveLength(2);
    expect(silent.requests[0].url).toBe('/api/v1/query_range');
    // The timeout covers the body too: a server that stalls mid-response has not answered.
    const stalling = await standIn((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":"success",');
    });
    const stalled = await rejection(
      prometheusProvider({ url: stalling.url, timeoutMs: 100, retries: 0 }).instant('up'),
    );
    expect(stalled).toMatchObject({ kind: 'timeout', attempts: 1 });
    expect(Object.fromEntries(new URLSearchParams(silent.requests[0].body))).toEqual({
      query: 'up',
      start: '0',
      end: '60',
      step: '15',
    });
  });

  it('refuses what is not a Prometheus answer, and bad options', async () => {
    const html = await standIn((_, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'),
    );
    const e = await rejection(prometheusProvider({ url: html.url }).instant('up'));
    expect(e).toBeInstanceOf(ConfigurationError);
    expect(e.message).toContain('not a Prometheus API answer');

    const options = (o: object) => () => prometheusProvider({ url: 'http://127.0.0.1:9090', ...o });
    expect(options({ bearerToken: TOKEN, basicAuth: { username: 'a', password: 'bbbb' } })).toThrow(
      /give only one of bearerToken and basicAuth/,
    );
    expect(options({ bearerToken: '' })).toThrow(/bearerToken is empty/);
    expect(options({ headers: { 'Bad Header': 'x' } })).toThrow(ConfigurationError);
    expect(options({ tls: { caFile: '/nonexistent/ca.pem' } })).not.toThrow(); // TLS options apply to https only
    expect(() => prometheusProvider({ url: 'https://h', tls: { caFile: '/nonexistent/ca.pem' } })).toThrow(
      /cannot read the CA file \/nonexistent\/ca.pem: ENOENT/,
    );
    expect(() => prometheusProvider({ url: 'ftp://h' })).toThrow(/http:\/\/ or https:\/\//);
    const bad = (await rejection(
      prometheusProvider({ url: 'http://127.0.0.1:9' }).range('up', new Date(60_000), new Date(0), 15),
    )) as ConfigurationError;
    expect(bad).toBeInstanceOf(ConfigurationError);
    expect(bad.message).toContain('starts after it ends');
  });
});

describe('http-json provider against a local JSON endpoint', () => {
  const endpoint = () =>
    standIn((req, res) => {
      const url = new URL(req.url, 'http://x');
      const q = url.searchParams.get('q');
      switch (url.pathname) {
        case '/value':
          return json(res, 200, { data: { value: 0.42, echo: q } });
        case '/results':
          return json(res, 200, { results: q === 'empty' ? [] : [{ v: 'NaN' }, { v: '+Inf' }] });
        case '/pairs':
          return json(res, 200, {
            points: [
              [Number(url.searchParams.get('end')), '2.5'],
              [Number(url.searchParams.get('start')), 1],
            ],
          });
        case '/objects':
          return json(res, 200, { points: [{ ts: '2024-05-01T12:00:00Z', val: '3' }] });
        case '/bad':
          return json(res, 400, { message: `unknown metric ${q}` });
        default:
          return json(res, 404, {});
      }
    });

  it('reads the value at a path, the query URL-encoded into the url', async () => {
    const server = await endpoint();
    const query = 'sum(rate(x{a="b c"}[5m])) & more/#';
    const provider = httpJsonProvider({
      url: `${server.url}/value?q={{query}}&t={{time}}`,
      valuePath: 'data.value',
    });
    const result = value(await provider.instant(query, new Date(1_700_000_000_000)));
    expect(result.sample).toEqual({ t: 1700000000, v: 0.42 });
    const sent = new URL(server.requests[0].url, 'http://x').searchParams;
    expect(sent.get('q')).toBe(query);
    expect(sent.get('t')).toBe('1700000000');

    const results = httpJsonProvider({ url: `${server.url}/results?q={{query}}`, valuePath: 'results[1].v' });
    expect(value(await results.instant('x')).sample.v).toBe(Number.POSITIVE_INFINITY);
    const first = httpJsonProvider({
      url: `${server.url}/results?q={{query}}`,
      valuePath: '$.results[0]["v"]',
    });
    expect(value(await first.instant('x')).sample.v).toBeNaN();
    // An index past the end of an empty result is no data, not a mistake in the path.
    const empty = await results.instant('empty');
    expect(empty.kind).toBe('no-data');
    expect(empty.kind === 'no-data' && empty.reason).toContain('`empty`');
  });

  it('reads range points as [t, v] pairs or objects with the given keys, oldest first', async () => {
    const server = await endpoint();
    const pairs = httpJsonProvider({
      url: `${server.url}/pairs?q={{query}}&start={{start}}&end={{end}}&step={{step}}`,
      valuePath: 'value',
      samplesPath: 'points',
    });
    expect(samples(await pairs.range('x', new Date(60_000), new Date(120_000), 30)).samples).toEqual([
      { t: 60, v: 1 },
      { t: 120, v: 2.5 },
    ]);
    expect(new URL(server.requests[0].url, 'http://x').searchParams.get('step')).toBe('30');

    const objects = httpJsonProvider({
      url: `${server.url}/objects?q={{query}}`,
      valuePath: 'value',
      samplesPath: 'points',
      timeKey: 'ts',
      valueKey: 'val',
    });
    expect(samples(await objects.range('x', new Date(0), new Date(1000), 1)).samples).toEqual([
      { t: Date.parse('2024-05-01T12:00:00Z') / 1000, v: 3 },
    ]);
  });

  it('names mistakes: a missing key, a rejected query, a url without {{query}}', async () => {
    const server = await endpoint();
    const missing = await rejection(
      httpJsonProvider({ url: `${server.url}/value?q={{query}}`, valuePath: 'data.valeu' }).instant('x'),
    );
    expect(missing).toBeInstanceOf(ConfigurationError);
    expect(missing.message).toContain('$.data has no key "valeu" (its keys: value, echo)');

    const rejected = await rejection(
      httpJsonProvider({ url: `${server.url}/bad?q={{query}}`, valuePath: 'v' }).instant('nope'),
    );
    expect(rejected).toBeInstanceOf(ConfigurationError);
    expect(rejected.message).toContain('rejected the query `nope` (HTTP 400)');
    expect(rejected.message).toContain('unknown metric nope');

    expect(() => httpJsonProvider({ url: `${server.url}/value`, valuePath: 'v' })).toThrow(/\{\{query\}\}/);
    expect(() => httpJsonProvider({ url: `${server.url}/v?q={{query}}&x={{when}}`, valuePath: 'v' })).toThrow(
      /unknown placeholder \{\{when\}\}/,
    );
    expect(() => httpJsonProvider({ url: `${server.url}/v?q={{query}}`, valuePath: 'a..b' })).toThrow(
      /cannot read valuePath/,
    );
    const noSamplesPath = await rejection(
      httpJsonProvider({ url: `${server.url}/value?q={{query}}`, valuePath: 'v' }).range(
        'x',
        new Date(0),
        new Date(1),
        1,
      ),
    );
    expect(noSamplesPath.message).toContain('samplesPath');
  });
});
