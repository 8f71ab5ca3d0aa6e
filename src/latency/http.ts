import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { urlToHttpOptions } from 'node:url';
import { ConfigurationError } from '../errors.js';
import { Xoshiro128 } from '../metrics/significance.js';

export { type BodyTable, type RenderOptions, renderBodies } from './template.js';

export interface RequestSpec {
  url: string;
  method: string;
  /** May hold secrets (API keys): values never appear in errors or results. */
  headers: Record<string, string>;
  /** Sent in turn, request i carries bodies[i % bodies.length]; none means requests without a body. */
  bodies: string[];
  timeoutMs: number;
  expectStatus: (status: number) => boolean;
  /** When set, each response body is read and must match; otherwise bodies are drained unread. */
  expectBody?: RegExp;
}

export interface WindowResult {
  /** One per successful response (status and body as expected), in completion order. */
  latenciesMs: Float64Array;
  /** Requests started; in an open window, also those refused because too many were in flight. */
  sent: number;
  ok: number;
  /** Unexpected status, timeouts, connection errors (and open-loop overflow), body check failures. */
  errors: { status: number; timeout: number; network: number; body: number };
  statusCounts: Record<string, number>;
  /** Wall time of the window, first send to last completion. */
  elapsedMs: number;
  /** One example, for the report; header values are scrubbed out. */
  firstError?: string;
}

const DEFAULT_MAX_IN_FLIGHT = 10_000;
const SNIPPET = 200;
const MAX_HEAD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

// Response parser states.
const HEAD = 0;
const LENGTH = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_END = 4;
const TRAILER = 5;
const UNTIL_CLOSE = 6;

// What a response body is read for.
const DRAIN = 0;
const SNIP = 1;
const MATCH = 2;

type Done = (conn: Conn) => void;

/** What every connection of one HttpLoad shares: the serialized requests and how to judge responses. */
interface Target {
  connect: () => net.Socket;
  /** Request line, headers and body of each body, one buffer each: one write per request. */
  requests: Buffer[];
  headRequest: boolean;
  timeoutMs: number;
  expectStatus: (status: number) => boolean;
  expectBody: RegExp | undefined;
  label: string;
  scrub: (text: string) => string;
  /** Every open connection, for the timeout sweep and close(). */
  conns: Set<Conn>;
  next: number;
}

/**
 * Closed- and open-loop HTTP/1.1 load against one endpoint over keep-alive connections.
 *
 * Requests go out over plain net/tls sockets, one pre-serialized buffer and one write each, and responses
 * are read by a small parser that only looks at the status line, content-length, transfer-encoding and
 * connection. node:http's ClientRequest, IncomingMessage and Agent machinery cost several times more CPU
 * per request, which capped the client well below what the server under test could do.
 */
export class HttpLoad {
  private readonly target: Target;
  /** Connections ready for a request, most recently used last. */
  private readonly idle: Conn[] = [];

  constructor(spec: RequestSpec) {
    const url = parseHttpUrl(spec.url, 'input "url"');
    const method = spec.method.trim().toUpperCase();
    if (!/^[A-Z]+$/.test(method)) {
      throw new ConfigurationError(
        `"${spec.method}" is not an HTTP method; use e.g. POST or GET`,
        'input "method"',
      );
    }
    if (!(spec.timeoutMs > 0) || !Number.isFinite(spec.timeoutMs)) {
      throw new ConfigurationError(
        `must be a positive number of milliseconds, not ${spec.timeoutMs}`,
        'input "request-timeout"',
      );
    }
    const headers = checkHeaders(spec.headers);
    const has = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);
    const secrets = secretsOf(spec.headers, url);
    const label = `${method} ${url.pathname}`;

    let common = '';
    if (!has('host')) common += `host: ${url.host}\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      // Framing is this client's business: a stale length from the user would corrupt the connection.
      if (lower !== 'content-length' && lower !== 'transfer-encoding' && lower !== 'connection') {
        common += `${name}: ${value}\r\n`;
      }
    }
    if (url.username !== '' && !has('authorization')) {
      const credentials = `${safeDecode(url.username)}:${safeDecode(url.password)}`;
      common += `authorization: Basic ${Buffer.from(credentials).toString('base64')}\r\n`;
    }
    if (spec.bodies.length > 0 && !has('content-type')) {
      const json = /^\s*[[{]/.test(spec.bodies[0]);
      common += `content-type: ${json ? 'application/json' : 'text/plain; charset=utf-8'}\r\n`;
    }
    const start = `${method} ${url.pathname}${url.search} HTTP/1.1\r\n${common}`;
    const payloads = spec.bodies.map((b) => Buffer.from(b, 'utf8'));
    const requests =
      payloads.length > 0
        ? payloads.map((p) =>
            Buffer.concat([Buffer.from(`${start}content-length: ${p.length}\r\n\r\n`, 'latin1'), p]),
          )
        : [
            Buffer.from(
              `${start}${/^(POST|PUT|PATCH)$/.test(method) ? 'content-length: 0\r\n' : ''}\r\n`,
              'latin1',
            ),
          ];

    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const connect =
      url.protocol === 'https:'
        ? () =>
            tls
              .connect({
                host,
                port,
                servername: net.isIP(host) ? undefined : host,
                ALPNProtocols: ['http/1.1'],
              })
              .setNoDelay(true)
        : () => net.connect({ host, port, noDelay: true });

    this.target = {
      connect,
      requests,
      headRequest: method === 'HEAD',
      timeoutMs: spec.timeoutMs,
      expectStatus: spec.expectStatus,
      // A global or sticky regex would carry lastIndex from one response to the next.
      expectBody:
        spec.expectBody && new RegExp(spec.expectBody.source, spec.expectBody.flags.replace(/[gy]/g, '')),
      label,
      scrub: (text) => {
        for (const s of secrets) text = text.split(s).join('[redacted]');
        return text;
      },
      conns: new Set(),
      next: 0,
    };
  }

  /**
   * Closed loop: `concurrency` workers, one connection each, each sending its next request when its
   * previous one completes, until durationMs has passed and at least minRequests were sent; requests in
   * flight at the end are awaited and counted.
   */
  closedWindow(concurrency: number, durationMs: number, minRequests = 0): Promise<WindowResult> {
    positiveInteger(concurrency, 'input "concurrency"');
    positiveNumber(durationMs, 'input "window"');
    const w = new Window(this.target);
    return new Promise((resolve) => {
      const t0 = performance.now();
      const end = t0 + durationMs;
      let workers = concurrency;
      const step: Done = (conn) => {
        if (w.sent >= minRequests && performance.now() >= end) {
          this.release(conn);
          if (--workers === 0) resolve(w.finish(t0));
          return;
        }
        w.sent++;
        (conn.alive ? conn : this.acquire()).start(w, -1, step);
      };
      w.startSweeper();
      for (let i = 0; i < concurrency; i++) {
        w.sent++;
        this.acquire().start(w, -1, step);
      }
    });
  }

  /**
   * Open loop at `rate` requests per second. Latency runs from each request's intended send time, so a
   * stall (of the server, or of this process) is charged to every request that should have gone out
   * meanwhile, not only to the one in flight: no coordinated omission. A request never waits for a free
   * connection; a new one is opened, up to maxInFlight requests in flight.
   */
  openWindow(
    rate: number,
    arrival: 'constant' | 'poisson',
    durationMs: number,
    options: { seed?: number; maxInFlight?: number } = {},
  ): Promise<WindowResult> {
    positiveNumber(rate, 'input "rate"');
    positiveNumber(durationMs, 'input "window"');
    if (arrival !== 'constant' && arrival !== 'poisson') {
      throw new ConfigurationError(`must be constant or poisson, not "${arrival}"`, 'input "arrival"');
    }
    const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    positiveInteger(maxInFlight, 'input "max-in-flight"');
    const gapMs = 1000 / rate;
    // Seeded, so that Poisson arrivals are the same from run to run.
    const rng = new Xoshiro128(options.seed ?? 1);
    const w = new Window(this.target);

    return new Promise((resolve) => {
      const t0 = performance.now();
      let i = 0;
      let due = 0; // intended send time of request i, in ms after t0
      let scheduling = true;
      let inFlight = 0;
      const done: Done = (conn) => {
        inFlight--;
        this.release(conn);
        if (!scheduling && inFlight === 0) resolve(w.finish(t0));
      };
      const tick = () => {
        const now = performance.now() - t0;
        for (let burst = 0; due < durationMs && due <= now; burst++) {
          // A backlog goes out in slices so that responses keep being read in between.
          if (burst === 256) {
            setImmediate(tick);
            return;
          }
          w.sent++;
          if (inFlight >= maxInFlight) {
            w.fail(
              'network',
              `the client could not keep up: ${maxInFlight} requests were already in flight at ${rate} requests/s; lower the rate or raise the in-flight limit`,
            );
          } else {
            inFlight++;
            this.acquire().start(w, t0 + due, done);
          }
          i++;
          // Multiplying rather than summing keeps constant spacing free of accumulated rounding.
          due = arrival === 'constant' ? i * gapMs : due - Math.log(1 - rng.nextFloat()) * gapMs;
        }
        if (due >= durationMs) {
          scheduling = false;
          if (inFlight === 0) resolve(w.finish(t0));
          return;
        }
        // Timers fire up to a millisecond or so late; the last stretch is waited out on the event loop so
        // that timer slack does not show up as latency.
        const wait = due - now;
        if (wait > 2) setTimeout(tick, wait - 1.5);
        else setImmediate(tick);
      };
      w.startSweeper();
      tick();
    });
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    for (const conn of this.target.conns) conn.destroy();
    this.idle.length = 0;
  }

  private acquire(): Conn {
    for (;;) {
      const conn = this.idle.pop();
      if (conn === undefined) return new Conn(this.target);
      if (conn.alive) {
        conn.socket.ref();
        return conn;
      }
    }
  }

  private release(conn: Conn): void {
    if (!conn.alive) return;
    // An idle pool must not keep the process alive if the caller forgets close().
    conn.socket.unref();
    this.idle.push(conn);
  }
}

/** One keep-alive connection, carrying one request at a time, with the parser state of its response. */
class Conn {
  readonly socket: net.Socket;
  /** Usable for another request. */
  alive = true;
  busy = false;
  private served = 0;
  // The request in flight.
  private w: Window | undefined;
  private k = 0;
  private origin = 0;
  deadline = 0;
  private onDone: Done = noop;
  private retried = false;
  private got = false;
  // The response being read.
  private state = HEAD;
  private remaining = 0;
  private status = 0;
  private keepAlive = true;
  private carry: Buffer | null = null;
  private expected = false;
  private read = DRAIN;
  private pieces: Buffer[] = [];
  private kept = 0;
  private error: (Error & { code?: string }) | undefined;

  constructor(private readonly t: Target) {
    this.socket = t.connect();
    t.conns.add(this);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (e: Error) => {
      this.error = e;
    });
    this.socket.on('close', () => this.onClose());
  }

  /** Sends the next body; latency runs from `origin`, or from now when it is negative. */
  start(w: Window, origin: number, then: Done, retried = false): void {
    const t = this.t;
    const k = t.next;
    t.next = k + 1 === t.requests.length ? 0 : k + 1;
    this.send(w, k, origin, then, retried);
  }

  private send(w: Window, k: number, origin: number, then: Done, retried: boolean): void {
    const now = performance.now();
    this.w = w;
    this.k = k;
    this.origin = origin < 0 ? now : origin;
    this.deadline = now + this.t.timeoutMs;
    this.onDone = then;
    this.retried = retried;
    this.got = false;
    this.busy = true;
    this.state = HEAD;
    this.socket.write(this.t.requests[k]);
  }

  destroy(): void {
    this.alive = false;
    this.socket.destroy();
  }

  /** Called by the sweep when the deadline has passed. */
  timeOut(): void {
    this.busy = false;
    this.destroy();
    this.w!.fail('timeout', `${this.t.label} got no complete response within ${this.t.timeoutMs} ms`);
    this.onDone(this);
  }

  private onData(chunk: Buffer): void {
    if (!this.busy) {
      // Bytes nobody asked for: the connection's framing can no longer be trusted.
      this.destroy();
      return;
    }
    this.got = true;
    if (this.carry !== null) {
      chunk = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let pos = 0;
    const len = chunk.length;
    // Every path that completes the response returns at once: completing may start the next request.
    for (;;) {
      switch (this.state) {
        case HEAD: {
          const end = chunk.indexOf(HEAD_END, pos);
          if (end < 0) {
            this.stash(chunk, pos);
            return;
          }
          if (!this.parseHead(chunk, pos, end)) return;
          pos = end + 4;
          break;
        }
        case LENGTH:
        case CHUNK_DATA: {
          if (pos === len) return;
          const n = Math.min(this.remaining, len - pos);
          if (this.read !== DRAIN) this.keep(chunk, pos, pos + n);
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) {
            if (this.state === LENGTH) {
              this.complete(pos < len);
              return;
            }
            this.state = CHUNK_END;
          }
          break;
        }
        case CHUNK_END: {
          if (len - pos < 2) {
            this.stash(chunk, pos);
            return;
          }
          if (chunk[pos] !== 13 || chunk[pos + 1] !== 10) {
            this.broken('a chunk is not followed by CRLF');
            return;
          }
          pos += 2;
          this.state = CHUNK_SIZE;
          break;
        }
        case CHUNK_SIZE: {
          const eol = chunk.indexOf(CRLF, pos);
          if (eol < 0) {
            this.stash(chunk, pos);
            return;
          }
          const line = chunk.toString('latin1', pos, eol);
          const semi = line.indexOf(';');
          const size = Number.parseInt(semi < 0 ? line : line.slice(0, semi), 16);
          if (!Number.isFinite(size) || size < 0) {
            this.broken(`bad chunk size "${line.slice(0, 20)}"`);
            return;
          }
          pos = eol + 2;
          if (size === 0) {
            this.state = TRAILER;
          } else {
            this.state = CHUNK_DATA;
            this.remaining = size;
          }
          break;
        }
        case TRAILER: {
          const eol = chunk.indexOf(CRLF, pos);
          if (eol < 0) {
            this.stash(chunk, pos);
            return;
          }
          const empty = eol === pos;
          pos = eol + 2;
          if (empty) {
            this.complete(pos < len);
            return;
          }
          break;
        }
        case UNTIL_CLOSE: {
          if (this.read !== DRAIN) this.keep(chunk, pos, len);
          return;
        }
      }
    }
  }

  /** Reads the status line and the framing headers; false when the response is already settled. */
  private parseHead(chunk: Buffer, from: number, to: number): boolean {
    // Lowercased once, so header names match in any case; a head is a few hundred bytes.
    const head = chunk.toString('latin1', from, to).toLowerCase();
    if (!head.startsWith('http/1.')) {
      this.broken(`the response does not start with an HTTP/1.x status line but with "${head.slice(0, 20)}"`);
      return false;
    }
    const status = Number(head.slice(9, 12));
    if (!(status >= 100 && status <= 999)) {
      this.broken(`bad status line "${head.slice(0, 40)}"`);
      return false;
    }
    if (status < 200) {
      if (status === 101) {
        this.broken('the server switched protocols (101)');
        return false;
      }
      // 100 Continue and 103 Early Hints precede the real response.
      return true;
    }
    this.status = status;
    const connection = header(head, '\r\nconnection:');
    this.keepAlive = head.startsWith('http/1.1')
      ? !connection.includes('close')
      : connection.includes('keep-alive');
    const w = this.w!;
    const expected = this.t.expectStatus(status);
    this.expected = expected;
    this.read = expected ? (this.t.expectBody ? MATCH : DRAIN) : w.firstError === undefined ? SNIP : DRAIN;
    this.pieces.length = 0;
    this.kept = 0;
    const trailing = to + 4 < chunk.length;
    if (this.t.headRequest || status === 204 || status === 304) {
      this.complete(trailing);
      return false;
    }
    if (header(head, '\r\ntransfer-encoding:').includes('chunked')) {
      this.state = CHUNK_SIZE;
      return true;
    }
    const length = header(head, '\r\ncontent-length:');
    if (length === '') {
      this.state = UNTIL_CLOSE;
      this.keepAlive = false;
      return true;
    }
    const n = Number(length);
    if (!Number.isSafeInteger(n) || n < 0) {
      this.broken(`bad content-length "${length.slice(0, 20)}"`);
      return false;
    }
    if (n === 0) {
      this.complete(trailing);
      return false;
    }
    this.state = LENGTH;
    this.remaining = n;
    return true;
  }

  private keep(chunk: Buffer, from: number, to: number): void {
    if (this.read === SNIP && this.kept > SNIPPET * 4) return;
    this.pieces.push(chunk.subarray(from, to));
    this.kept += to - from;
  }

  private stash(chunk: Buffer, pos: number): void {
    if (chunk.length - pos > MAX_HEAD_BYTES) {
      this.broken(`a header or chunk line is longer than ${MAX_HEAD_BYTES} bytes`);
      return;
    }
    // A copy, so that the rest of a large chunk can be collected.
    this.carry = Buffer.from(chunk.subarray(pos));
  }

  /** The response is complete; `trailing` when more bytes followed it, which HTTP/1.1 without pipelining never sends. */
  private complete(trailing: boolean): void {
    this.busy = false;
    this.served++;
    this.carry = null;
    if (!this.keepAlive || trailing) this.destroy();
    const w = this.w!;
    const t = this.t;
    const status = this.status;
    w.count(status);
    if (this.read === DRAIN) {
      if (this.expected) w.success(performance.now() - this.origin);
      else w.fail('status', '');
    } else {
      const body = Buffer.concat(this.pieces).toString('utf8');
      this.pieces.length = 0;
      if (this.read === SNIP) {
        const head = body.trim() === '' ? '' : `; the response begins: ${clip(body)}`;
        w.fail('status', t.scrub(`HTTP ${status} from ${t.label}${head}`));
      } else if (t.expectBody!.test(body)) {
        w.success(performance.now() - this.origin);
      } else {
        w.fail(
          'body',
          t.scrub(
            `the response body (HTTP ${status}) from ${t.label} does not match ${t.expectBody}; it begins: ${clip(body)}`,
          ),
        );
      }
    }
    this.onDone(this);
  }

  private broken(why: string): void {
    this.busy = false;
    this.destroy();
    this.w!.fail(
      'network',
      this.t.scrub(`${this.t.label} failed: the response is not valid HTTP/1.1 (${why})`),
    );
    this.onDone(this);
  }

  private onClose(): void {
    this.alive = false;
    this.t.conns.delete(this);
    if (!this.busy) return;
    if (this.state === UNTIL_CLOSE && this.error === undefined) {
      this.complete(false);
      return;
    }
    this.busy = false;
    // A server may close an idle keep-alive connection just as a request goes out on it; like browsers,
    // send that request once more on a fresh connection rather than report the race as an error.
    if (!this.got && this.served > 0 && !this.retried) {
      new Conn(this.t).send(this.w!, this.k, this.origin, this.onDone, true);
      return;
    }
    const e = this.error;
    const why =
      e === undefined
        ? 'the server closed the connection before the response was complete'
        : `${e.message}${e.code && !e.message.includes(e.code) ? ` (${e.code})` : ''}`;
    this.w!.fail('network', this.t.scrub(`${this.t.label} failed: ${why}`));
    this.onDone(this);
  }
}

/** The value of a header in a lowercased head, or '' when absent. */
function header(head: string, name: string): string {
  const at = head.indexOf(name);
  if (at < 0) return '';
  const eol = head.indexOf('\r\n', at + name.length);
  return head.slice(at + name.length, eol < 0 ? head.length : eol).trim();
}

/** The counters of one window. */
class Window {
  sent = 0;
  ok = 0;
  readonly errors = { status: 0, timeout: 0, network: 0, body: 0 };
  firstError: string | undefined;
  private latencies = new Float64Array(4096);
  private readonly statuses = new Uint32Array(1000);
  private lastDone = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly t: Target) {}

  startSweeper(): void {
    // One coarse timer for all requests instead of one per request; a timeout fires at most a period late.
    const period = Math.min(250, Math.max(5, this.t.timeoutMs / 10));
    this.sweeper = setInterval(() => {
      const now = performance.now();
      for (const conn of this.t.conns) {
        if (conn.busy && now >= conn.deadline) conn.timeOut();
      }
    }, period);
  }

  count(status: number): void {
    this.statuses[status]++;
  }

  success(latencyMs: number): void {
    if (this.ok === this.latencies.length) {
      const grown = new Float64Array(this.latencies.length * 2);
      grown.set(this.latencies);
      this.latencies = grown;
    }
    this.latencies[this.ok++] = latencyMs;
    this.lastDone = performance.now();
  }

  fail(kind: keyof Window['errors'], message: string): void {
    this.errors[kind]++;
    if (this.firstError === undefined && message !== '') this.firstError = message;
    this.lastDone = performance.now();
  }

  finish(t0: number): WindowResult {
    clearInterval(this.sweeper);
    const statusCounts: Record<string, number> = {};
    for (let s = 0; s < this.statuses.length; s++) {
      if (this.statuses[s] > 0) statusCounts[String(s)] = this.statuses[s];
    }
    return {
      latenciesMs: this.latencies.slice(0, this.ok),
      sent: this.sent,
      ok: this.ok,
      errors: { ...this.errors },
      statusCounts,
      elapsedMs: Math.max(0, this.lastDone - t0),
      ...(this.firstError === undefined ? {} : { firstError: this.firstError }),
    };
  }
}

function clip(text: string): string {
  return text.length > SNIPPET ? `${text.slice(0, SNIPPET)}…` : text;
}

function noop(): void {}

/**
 * Polls `url` with GET until it answers 2xx. Refused connections, timeouts and every other status are
 * retried: servers commonly answer 503 (or even 404) while the model loads.
 */
export async function waitReady(
  url: string,
  options: { timeoutMs: number; intervalMs?: number; headers?: Record<string, string> },
): Promise<{ attempts: number; waitedMs: number }> {
  const where = 'input "ready-url"';
  const target = parseHttpUrl(url, where);
  const headers = checkHeaders(options.headers ?? {});
  const intervalMs = options.intervalMs ?? 500;
  const secrets = secretsOf(options.headers ?? {}, target);
  const start = performance.now();
  let attempts = 0;
  let last: Probe;
  for (;;) {
    attempts++;
    const remaining = options.timeoutMs - (performance.now() - start);
    last = await probe(target, headers, Math.max(250, remaining));
    if (last.status >= 200 && last.status < 300) return { attempts, waitedMs: performance.now() - start };
    const elapsed = performance.now() - start;
    if (elapsed >= options.timeoutMs) break;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, options.timeoutMs - elapsed)));
  }
  let message = `${describeUrl(target)} did not answer 2xx within ${seconds(options.timeoutMs)} (${attempts} attempt${attempts === 1 ? '' : 's'}; last: ${last.status > 0 ? `HTTP ${last.status}` : last.error}). `;
  if (last.code === 'ECONNREFUSED') {
    message += `Nothing listens on ${target.host}: start the model server before this step (in the background) and check its host and port, or raise the readiness timeout if it starts slowly`;
  } else if (last.code === 'ENOTFOUND' || last.code === 'EAI_AGAIN') {
    message += `The host name ${target.hostname} does not resolve: check the host in the URL`;
  } else if (last.code !== undefined && /CERT|SSL|TLS/.test(last.code)) {
    message +=
      "The server's TLS certificate is not trusted: point NODE_EXTRA_CA_CERTS at the file of the CA that signed it, or use http:// on loopback";
  } else if (last.status >= 500) {
    message +=
      'The server is up but not ready: raise the readiness timeout if the model loads slowly, or check the server log';
  } else if (last.status > 0) {
    message +=
      'The server answers but not with 2xx: point ready-url at a health endpoint that answers 2xx once the model is loaded';
  } else {
    message +=
      'Check that the server is started before this step and reachable at this URL, or raise the readiness timeout';
  }
  for (const s of secrets) message = message.split(s).join('[redacted]');
  throw new ConfigurationError(message, where);
}

interface Probe {
  status: number;
  error: string;
  code?: string;
}

function probe(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<Probe> {
  return new Promise((resolve) => {
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request({ ...urlToHttpOptions(url), method: 'GET', headers, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, error: '' });
    });
    const timer = setTimeout(() => {
      resolve({ status: 0, error: `no answer within ${Math.round(timeoutMs)} ms`, code: 'ETIMEDOUT' });
      req.destroy();
    }, timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (e: Error & { code?: string }) => {
      resolve({ status: 0, error: e.code ?? e.message, code: e.code });
    });
    req.end();
  });
}

function parseHttpUrl(text: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new ConfigurationError(
      `${JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text)} is not a valid URL; write it in full, as in http://127.0.0.1:8000/predict`,
      where,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigurationError(
      `the URL must start with http:// or https:// (it starts with ${url.protocol}); write it in full, as in http://127.0.0.1:8000/predict`,
      where,
    );
  }
  return url;
}

/** The URL without credentials or query, which may carry secrets. */
function describeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function checkHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    try {
      http.validateHeaderName(name);
    } catch {
      throw new ConfigurationError(`"${name}" is not a valid HTTP header name`, 'input "headers"');
    }
    try {
      http.validateHeaderValue(name, value);
    } catch {
      throw new ConfigurationError(
        `the value of header "${name}" holds characters HTTP does not allow (such as a line break)`,
        'input "headers"',
      );
    }
    out[name] = value;
  }
  return out;
}

function secretsOf(headers: Record<string, string>, url: URL): string[] {
  // Very short values would redact unrelated text and are no real secret.
  const values = [...Object.values(headers), url.username, url.password, safeDecode(url.password)];
  return [...new Set(values.map((v) => v.trim()).filter((v) => v.length >= 4))].sort(
    (a, b) => b.length - a.length,
  );
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function positiveInteger(value: number, where: string): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigurationError(`must be a whole number of at least 1, not ${value}`, where);
  }
}

function positiveNumber(value: number, where: string): void {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new ConfigurationError(`must be a positive number, not ${value}`, where);
  }
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
