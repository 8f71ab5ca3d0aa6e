import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/errors.js';
import {
  HttpLoad,
  type RequestSpec,
  renderBodies,
  type WindowResult,
  waitReady,
} from '../src/latency/http.js';
import { configurationError } from './support/errors.js';

const table = {
  header: ['id', 'age', 'plan', 'charges'],
  rows: [
    ['1', '34', 'basic', '19.5'],
    ['2', '51', 'pro', ''],
    ['3', '  7 ', null, '1e3'],
  ],
};
const render = (
  template: string,
  batchSize = 1,
  featureColumns = ['age', 'plan', 'charges'],
  maxBodies?: number,
) => renderBodies(template, table, { featureColumns, batchSize, maxBodies });

describe('renderBodies', () => {
  it('{{features}} is the row as a JSON array: numbers, strings, null for empty cells', () => {
    const bodies = render('{"x": {{ features }}}');
    expect(bodies.map((b) => JSON.parse(b).x)).toEqual([
      [34, 'basic', 19.5],
      [51, 'pro', null],
      [7, null, 1000],
    ]);
  });

  it('{{instances}} holds batchSize rows and the last batch wraps around to the first rows', () => {
    const bodies = render('{"instances": {{instances}}}', 2);
    expect(bodies.map((b) => JSON.parse(b).instances)).toEqual([
      [
        [34, 'basic', 19.5],
        [51, 'pro', null],
      ],
      [
        [7, null, 1000],
        [34, 'basic', 19.5],
      ],
    ]);
  });

  it('{{row}} and {{rows}} are objects keyed by the feature columns', () => {
    expect(JSON.parse(render('{{row}}')[1])).toEqual({ age: 51, plan: 'pro', charges: null });
    const rows = render('{"rows": {{rows}}}', 3).map((b) => JSON.parse(b).rows);
    expect(rows).toHaveLength(1);
    expect(rows[0].map((r: { age: number }) => r.age)).toEqual([34, 51, 7]);
  });

  it('{{column:NAME}} is one value of the row, from any column of the data', () => {
    const bodies = render('{"id": {{ column : id }}, "plan": {{column:plan}}}', 1, ['age']);
    expect(bodies.map((b) => JSON.parse(b))).toEqual([
      { id: 1, plan: 'basic' },
      { id: 2, plan: 'pro' },
      { id: 3, plan: null },
    ]);
  });

  it('single-row placeholders take the first row of each batch', () => {
    expect(render('{{features}}', 2).map((b) => JSON.parse(b)[0])).toEqual([34, 7]);
  });

  it('keeps long integers digit for digit and leaves non-decimal text as strings', () => {
    const odd = {
      header: ['a', 'b', 'c', 'd', 'e'],
      rows: [['12345678901234567890', '+3', '0x10', 'NaN', '1e999']],
    };
    const body = renderBodies('{{features}}', odd, { featureColumns: [], batchSize: 1 })[0];
    expect(body).toBe('[12345678901234567890,3,"0x10","NaN","1e999"]');
  });

  it('renders each batch once, at most maxBodies of them, and a template without placeholders once', () => {
    expect(render('{{features}}', 1, undefined, 2)).toHaveLength(2);
    expect(render('{"ping": true}')).toEqual(['{"ping": true}']);
  });

  it('sends a template that does not start like JSON as text', () => {
    expect(render('plan={{column:plan}}')[0]).toBe('plan="basic"');
  });

  it('rejects unknown placeholders, listing the known ones', () => {
    const e = configurationError(() => render('{"x": {{feature}}}'));
    expect(e.message).toContain('input "body-template"');
    expect(e.message).toContain('{{feature}}');
    expect(e.message).toContain('{{instances}}');
    expect(e.message).toContain('{{column:NAME}}');
  });

  it('rejects unknown columns, listing the columns', () => {
    const e = configurationError(() => render('{"x": {{column:tenure}}}'));
    expect(e.message).toContain('input "body-template"');
    expect(e.message).toMatch(/"tenure".*columns: id, age, plan, charges/);
    const f = configurationError(() => render('{{features}}', 1, ['age', 'tenure']));
    expect(f.where).toBe('input "feature-columns"');
    expect(f.message).toContain('"tenure"');
  });

  it('rejects unbalanced braces', () => {
    for (const template of ['{"x": {{features}', '{"x": {{features', '{"x": {{features}, "y": {{row}}}']) {
      const e = configurationError(() => render(template));
      expect(e.message).toContain('input "body-template"');
      expect(e.message).toContain('unbalanced braces');
    }
  });

  it('rejects a JSON template that does not render to JSON, quoting the start of the body', () => {
    const e = configurationError(() => render('{"x": {{features}} "y": 1}'));
    expect(e.message).toContain('input "body-template"');
    expect(e.message).toContain('not valid JSON');
    expect(e.message).toContain('{"x": [34,"basic",19.5] "y": 1}');
  });

  it('rejects data without rows and a batch size below 1', () => {
    const e = configurationError(() =>
      renderBodies('{{instances}}', { header: ['a'], rows: [] }, { featureColumns: [], batchSize: 4 }),
    );
    expect(e.where).toBe('input "data"');
    expect(e.message).toContain('no rows');
    expect(configurationError(() => render('{{features}}', 0)).where).toBe('input "batch-sizes"');
  });
});

// ---------------------------------------------------------------------------------------------------------

interface TestServer {
  url: string;
  port: number;
  /** Requests received, in arrival order. */
  requests: { n: number; headers: IncomingHttpHeaders; body: string }[];
  maxConcurrent: number;
  connections: number;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

const servers: { close(): Promise<void> }[] = [];
const loads: HttpLoad[] = [];
afterEach(async () => {
  await Promise.all(loads.splice(0).map((l) => l.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A node:http server on loopback whose every answer the test decides; it records what it saw. */
async function serve(handler: Handler): Promise<TestServer> {
  let active = 0;
  const state: TestServer = {
    url: '',
    port: 0,
    requests: [],
    maxConcurrent: 0,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    active++;
    state.maxConcurrent = Math.max(state.maxConcurrent, active);
    res.on('close', () => active--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = state.requests.length;
      state.requests.push({ n, headers: req.headers, body: Buffer.concat(chunks).toString() });
      handler(req, res, n);
    });
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}/predict`;
  servers.push(state);
  return state;
}

const answer = (res: ServerResponse, status: number, body: string) => {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
const ok: Handler = (_req, res) => answer(res, 200, '{"ok":true}');
const delayed =
  (ms: number, then: Handler = ok): Handler =>
  (req, res, n) =>
    setTimeout(() => then(req, res, n), ms);

/** A port nobody listens on (taken, then given back). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function load(url: string, spec: Partial<RequestSpec> = {}): HttpLoad {
  const l = new HttpLoad({
    url,
    method: 'POST',
    headers: {},
    bodies: ['{"instances": [[1, 2]]}', '{"instances": [[3, 4]]}'],
    timeoutMs: 5000,
    expectStatus: (s) => s >= 200 && s < 300,
    ...spec,
  });
  loads.push(l);
  return l;
}

const errorCount = (r: WindowResult) => r.errors.status + r.errors.timeout + r.errors.network + r.errors.body;

describe('waitReady', () => {
  it('polls until the server answers 2xx', async () => {
    const server = await serve((_req, res, n) => answer(res, n < 3 ? 503 : 200, '{}'));
    const ready = await waitReady(`http://127.0.0.1:${server.port}/health`, {
      timeoutMs: 10_000,
      intervalMs: 10,
    });
    expect(ready.attempts).toBe(4);
    expect(server.requests).toHaveLength(4);
  });

  it('times out against a port nobody listens on, saying what was refused and what to do', async () => {
    const port = await freePort();
    const error = await waitReady(`http://127.0.0.1:${port}/health`, {
      timeoutMs: 300,
      intervalMs: 50,
    }).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.where).toBe('input "ready-url"');
    expect(error.message).toContain('did not answer 2xx within 300 ms');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain('start the model server before this step');
  });

  it('names the last status when the server never gets ready, without echoing header values', async () => {
    const server = await serve((_req, res) => answer(res, 503, '{}'));
    const error = await waitReady(server.url, {
      timeoutMs: 200,
      intervalMs: 20,
      headers: { authorization: 'Bearer sk-ready-secret' },
    }).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('last: HTTP 503');
    expect(error.message).not.toContain('sk-ready-secret');
    expect(server.requests[0].headers.authorization).toBe('Bearer sk-ready-secret');
  });

  it('rejects an invalid URL or another scheme at once', async () => {
    for (const url of ['not a url', 'ftp://127.0.0.1/health', 'localhost:8000/health']) {
      const error = await waitReady(url, { timeoutMs: 60_000 }).catch((e) => e);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(error.where).toBe('input "ready-url"');
      expect(error.message).toContain('http://');
    }
  });
});

describe('HttpLoad.closedWindow', () => {
  it('keeps exactly `concurrency` requests in flight over as many keep-alive connections', async () => {
    const server = await serve(delayed(20));
    const r = await load(server.url).closedWindow(4, 300);
    expect(server.maxConcurrent).toBe(4);
    expect(server.connections).toBe(4);
    expect(r.sent).toBe(r.ok + errorCount(r));
    expect(r.ok).toBeGreaterThan(8);
    expect(r.latenciesMs).toHaveLength(r.ok);
    expect(Math.min(...r.latenciesMs)).toBeGreaterThanOrEqual(15);
    expect(r.statusCounts).toEqual({ 200: r.ok });
    expect(r.elapsedMs).toBeGreaterThan(250);
    // Every request arrives whole, with its body, and the bodies are sent in turn.
    expect(server.requests).toHaveLength(r.sent);
    expect(server.requests.slice(0, 2).map((q) => q.body)).toEqual([
      '{"instances": [[1, 2]]}',
      '{"instances": [[3, 4]]}',
    ]);
    expect(server.requests[0].headers['content-type']).toBe('application/json');
  });

  it('sends at least minRequests even when the duration is shorter', async () => {
    const server = await serve(ok);
    const r = await load(server.url).closedWindow(1, 1, 25);
    expect(r.sent).toBeGreaterThanOrEqual(25);
    expect(r.ok).toBe(r.sent);
  });

  it('counts unexpected statuses under status, with the start of the first such response', async () => {
    const server = await serve((_req, res, n) =>
      n % 3 === 2 ? answer(res, 500, '{"detail":"model not loaded"}') : answer(res, 200, '{}'),
    );
    const r = await load(server.url).closedWindow(2, 200);
    expect(r.errors.status).toBeGreaterThan(0);
    expect(r.statusCounts['500']).toBe(r.errors.status);
    expect(r.statusCounts['200']).toBe(r.ok);
    expect(r.sent).toBe(r.ok + errorCount(r));
    expect(r.firstError).toBe(
      'HTTP 500 from POST /predict; the response begins: {"detail":"model not loaded"}',
    );
  });

  it('times out requests the server does not answer, and goes on on fresh connections', async () => {
    const server = await serve(delayed(1000));
    const r = await load(server.url, { timeoutMs: 100 }).closedWindow(2, 150);
    expect(r.ok).toBe(0);
    expect(r.errors.timeout).toBe(r.sent);
    expect(r.sent).toBeGreaterThanOrEqual(2);
    expect(r.firstError).toContain('no complete response within 100 ms');
    expect(server.connections).toBe(r.sent);
  });

  it('checks the body when asked, reading chunked responses too', async () => {
    const server = await serve((_req, res, n) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"predictions": ');
      res.end(n % 2 === 0 ? '[0.9]}' : '"oops"}');
    });
    const r = await load(server.url, { expectBody: /"predictions": \[/g }).closedWindow(2, 200);
    expect(r.ok).toBeGreaterThan(0);
    expect(r.errors.body).toBeGreaterThan(0);
    expect(r.sent).toBe(r.ok + errorCount(r));
    expect(r.firstError).toContain('does not match /"predictions": \\[/');
    expect(r.firstError).toContain('it begins: {"predictions": "oops"}');
  });

  it('counts connection errors under network', async () => {
    const port = await freePort();
    const r = await load(`http://127.0.0.1:${port}/predict`).closedWindow(2, 1, 10);
    expect(r.errors.network).toBe(r.sent);
    expect(r.firstError).toContain('ECONNREFUSED');
  });

  it('sends the headers but keeps their values out of errors', async () => {
    const secret = 'sk-live-0123456789abcdef';
    const server = await serve((req, res) =>
      answer(res, 401, `{"detail":"key ${req.headers['x-api-key']} revoked"}`),
    );
    const r = await load(server.url, { headers: { 'X-Api-Key': secret } }).closedWindow(1, 50);
    expect(server.requests[0].headers['x-api-key']).toBe(secret);
    expect(r.errors.status).toBe(r.sent);
    expect(r.firstError).toContain('HTTP 401');
    expect(r.firstError).toContain('[redacted]');
    expect(r.firstError).not.toContain(secret);
  });

  it('reads responses split into single bytes, and responses that end with the connection', async () => {
    // A raw server: the response framing is exactly what the test writes.
    let closing = false;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      let seen = '';
      socket.on('data', async (data) => {
        seen += data.toString('latin1');
        while (seen.includes('\r\n\r\n') && seen.includes('[[')) {
          seen = seen.slice(seen.indexOf(']]') + 2);
          if (closing) {
            socket.end('HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nprediction: 1');
            return;
          }
          const response =
            'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n' +
            '5;ext=1\r\npredi\r\n8\r\nction: 1\r\n0\r\nx-trailer: t\r\n\r\n';
          for (const byte of Buffer.from(response, 'latin1')) {
            socket.write(Buffer.from([byte]));
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push({
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`;
    const split = await load(url, { expectBody: /^prediction: 1$/ }).closedWindow(2, 100);
    expect(split.ok).toBe(split.sent);
    expect(split.ok).toBeGreaterThan(2);
    closing = true;
    const untilClose = await load(url, { expectBody: /^prediction: 1$/ }).closedWindow(2, 100);
    expect(untilClose.ok).toBe(untilClose.sent);
    expect(untilClose.ok).toBeGreaterThan(2);
  });
});

describe('HttpLoad.openWindow', () => {
  it('sends rate x duration requests on schedule', async () => {
    const server = await serve(ok);
    const r = await load(server.url).openWindow(100, 'constant', 1000);
    // Intended send times are 0, 10, ..., 990 ms: exactly 100, whatever the timers do.
    expect(r.sent).toBe(100);
    expect(r.ok).toBeGreaterThanOrEqual(90);
    expect(r.sent).toBe(r.ok + errorCount(r));
    expect(server.requests.length).toBe(r.ok + r.errors.status);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(900);
  });

  it('measures from the intended send time, so a stall delays every request meant to go out during it', async () => {
    let stalled = false;
    let firstAt = 0;
    const server = await serve((_req, res) => {
      const now = performance.now();
      if (firstAt === 0) firstAt = now;
      if (!stalled && now - firstAt > 200) {
        stalled = true;
        // Blocks this whole process, load generator included, as a client that falls behind would be:
        // the requests due meanwhile go out late and must carry the lag.
        while (performance.now() - now < 600) {}
      }
      answer(res, 200, '{}');
    });
    const r = await load(server.url).openWindow(50, 'constant', 2000);
    expect(r.sent).toBe(100);
    expect(r.ok).toBe(100);
    const slow = Array.from(r.latenciesMs).filter((ms) => ms >= 300);
    // About 15 were due in the first half of the stall; counting from the actual send would give one.
    expect(slow.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...r.latenciesMs)).toBeGreaterThanOrEqual(500);
  });

  it('draws Poisson arrivals from the seed', async () => {
    const server = await serve(ok);
    const l = load(server.url);
    const a = await l.openWindow(200, 'poisson', 500, { seed: 7 });
    const b = await l.openWindow(200, 'poisson', 500, { seed: 7 });
    expect(a.sent).toBe(b.sent);
    expect(a.sent).toBeGreaterThan(50);
    expect(a.sent).toBeLessThan(150);
    expect(a.sent).toBe(a.ok + errorCount(a));
  });

  it('counts requests beyond maxInFlight as network errors, saying the client could not keep up', async () => {
    const server = await serve(delayed(300));
    const r = await load(server.url).openWindow(200, 'constant', 200, { maxInFlight: 5 });
    expect(r.sent).toBe(40);
    expect(r.ok).toBe(5);
    expect(r.errors.network).toBe(35);
    expect(r.firstError).toContain('could not keep up');
    expect(server.maxConcurrent).toBe(5);
  });
});

describe('HttpLoad configuration', () => {
  it('rejects bad URLs, methods and header values without echoing the value', () => {
    expect(configurationError(() => load('http//127.0.0.1/predict')).where).toBe('input "url"');
    expect(configurationError(() => load('http://127.0.0.1/predict', { method: 'PO ST' })).where).toBe(
      'input "method"',
    );
    const e = configurationError(() =>
      load('http://127.0.0.1/predict', { headers: { 'x-api-key': 'sk-1\nevil' } }),
    );
    expect(e.where).toBe('input "headers"');
    expect(e.message).toContain('x-api-key');
    expect(e.message).not.toContain('sk-1');
  });
});
