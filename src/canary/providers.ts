/**
 * Metric providers for canary-gate: where the canary's and the baseline's numbers come from. The judge sees
 * only MetricProvider, so another backend (Datadog, CloudWatch) is one more function returning it.
 *
 * Two kinds of failure, kept apart on purpose: a ConfigurationError is the user's to fix (bad query, refused
 * credentials, wrong URL, a query matching several series) and is never retried; a ProviderError means no
 * answer could be had (network, timeout, 5xx after retries) and the caller counts it, never judging from it.
 * Credentials and header values never appear in messages: anything echoed by a server is scrubbed.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { ConfigurationError } from '../errors.js';

export interface Sample {
  /** Unix seconds. */
  t: number;
  /** NaN and ±Infinity are allowed: Prometheus stores them, and a ratio over zero traffic is one. */
  v: number;
}

export type QueryResult =
  /** An instant query's answer: exactly one series. */
  | { kind: 'value'; sample: Sample; series?: Record<string, string> }
  /** A range query's answer: one series' points, oldest first. */
  | { kind: 'samples'; samples: Sample[]; series?: Record<string, string> }
  | { kind: 'no-data'; reason: string };

export interface MetricProvider {
  readonly name: string;
  instant(query: string, at?: Date): Promise<QueryResult>;
  range(query: string, start: Date, end: Date, stepSeconds: number): Promise<QueryResult>;
}

export type ProviderErrorKind = 'network' | 'timeout' | 'server';

/** A failure to get an answer (connection refused, timeout, 5xx after retries): counted by the caller as a provider error, never a verdict. */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  constructor(
    message: string,
    readonly kind: ProviderErrorKind,
    /** Requests sent, the first one included. */
    readonly attempts: number,
  ) {
    super(message);
  }
}

export interface ProviderOptions {
  url: string;
  /** Sent with every request; values are treated as secrets. */
  headers?: Record<string, string>;
  bearerToken?: string;
  basicAuth?: { username: string; password: string };
  /** Per request, the response body included. Default 10000. */
  timeoutMs?: number;
  /** Further attempts after a network failure, timeout, 429 or 5xx. Default 2. */
  retries?: number;
  /** Wait before the first retry, doubled for each next one. Default 500. */
  backoffMs?: number;
  tls?: { caFile?: string; insecureSkipVerify?: boolean };
}

export interface HttpJsonOptions extends ProviderOptions {
  /** Where the instant value is: `data.value`, `results[0].v`, `$` for the whole body. */
  valuePath: string;
  /** Where the range's points are: an array of [t, v] pairs or of objects with timeKey/valueKey. */
  samplesPath?: string;
  /** Default 't'. */
  timeKey?: string;
  /** Default 'v'. */
  valueKey?: string;
}

const DEFAULTS = { timeoutMs: 10_000, retries: 2, backoffMs: 500 };
// A range query at Prometheus' 11,000-point cap is well under 1 MiB; more than this is a runaway query.
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const SNIPPET = 300;
const LISTED_SERIES = 10;
// Secrets shorter than this are not secrets, and scrubbing them would mangle every message.
const MIN_SECRET = 4;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

interface Reply {
  status: number;
  body: string;
}

type Attempt = { reply: Reply } | { failure: ProviderErrorKind; detail: string };

/** The HTTP side shared by providers: auth, TLS, timeout, retries with backoff, and scrubbing of secrets. */
class Transport {
  readonly origin: string;
  private readonly headers: Record<string, string>;
  private readonly secrets: string[];
  private readonly agent: https.Agent | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly credentials: 'bearer token' | 'basic-auth credentials' | 'headers' | undefined;

  constructor(
    options: ProviderOptions,
    readonly where: string,
    url: URL,
  ) {
    this.timeoutMs = positive(options.timeoutMs ?? DEFAULTS.timeoutMs, 'timeoutMs', where);
    this.retries = options.retries ?? DEFAULTS.retries;
    if (!Number.isInteger(this.retries) || this.retries < 0)
      throw new ConfigurationError(`retries must be a whole number >= 0, got ${options.retries}`, where);
    this.backoffMs = options.backoffMs ?? DEFAULTS.backoffMs;
    if (!Number.isFinite(this.backoffMs) || this.backoffMs < 0)
      throw new ConfigurationError(`backoffMs must be a number >= 0, got ${options.backoffMs}`, where);

    const headers: Record<string, string> = {};
    const secrets: string[] = [];
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (!HEADER_NAME.test(name))
        throw new ConfigurationError(`"${name}" is not a valid header name`, where);
      if (typeof value !== 'string' || /[\r\n\0]/.test(value))
        throw new ConfigurationError(`the value of header "${name}" must be one line of text`, where);
      headers[name.toLowerCase()] = value;
      secrets.push(value);
    }
    const given = [
      options.bearerToken !== undefined && 'bearerToken',
      options.basicAuth !== undefined && 'basicAuth',
      'authorization' in headers && 'an Authorization header',
    ].filter((x): x is string => typeof x === 'string');
    if (given.length > 1) throw new ConfigurationError(`give only one of ${given.join(' and ')}`, where);
    if (options.bearerToken !== undefined) {
      // An unset secret in a workflow arrives as an empty string, which would otherwise look like a refusal.
      if (!options.bearerToken.trim())
        throw new ConfigurationError('bearerToken is empty; is the secret set?', where);
      headers.authorization = `Bearer ${options.bearerToken}`;
      secrets.push(options.bearerToken, headers.authorization);
      this.credentials = 'bearer token';
    } else if (options.basicAuth !== undefined) {
      const { username, password } = options.basicAuth;
      if (!username || password === undefined || password === '')
        throw new ConfigurationError('basicAuth needs a username and a password; is the secret set?', where);
      const encoded = Buffer.from(`${username}:${password}`).toString('base64');
      headers.authorization = `Basic ${encoded}`;
      secrets.push(password, encoded);
      this.credentials = 'basic-auth credentials';
    } else if (url.username || url.password) {
      this.credentials = 'basic-auth credentials';
    } else if (Object.keys(headers).length > 0) {
      this.credentials = 'headers';
    }
    if (url.password) secrets.push(url.password, safeDecode(url.password));
    this.headers = headers;
    this.secrets = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET))].sort(
      (a, b) => b.length - a.length,
    );

    if (options.tls && url.protocol === 'https:') {
      let ca: Buffer | undefined;
      if (options.tls.caFile) {
        try {
          ca = readFileSync(options.tls.caFile);
        } catch (e) {
          throw new ConfigurationError(
            `cannot read the CA file ${options.tls.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
            where,
          );
        }
      }
      this.agent = new https.Agent({ ca, rejectUnauthorized: !options.tls.insecureSkipVerify });
    }
    // Neither credentials in the URL nor its query string (API keys live there) belong in messages.
    this.origin = `${url.origin}${url.pathname.replace(/\/$/, '')}`;
  }

  scrub(text: string): string {
    for (const secret of this.secrets) text = text.split(secret).join('***');
    return text;
  }

  /** One line of a response body for a message, scrubbed. */
  snippet(body: string): string {
    const line = this.scrub(body.replace(/\s+/g, ' ').trim());
    return line.length > SNIPPET ? `${line.slice(0, SNIPPET)}…` : line;
  }

  /**
   * The first reply that is not worth retrying. Network failures, timeouts, 429 and 5xx are retried with
   * exponential backoff; when attempts run out they become a ProviderError.
   */
  async send(
    url: URL,
    method: 'GET' | 'POST',
    body: string | undefined,
    query: string,
    serverError: (reply: Reply) => string,
  ): Promise<Reply> {
    const attempts = this.retries + 1;
    for (let i = 0; ; i++) {
      const outcome = await this.attempt(url, method, body);
      let kind: ProviderErrorKind;
      let detail: string;
      if ('reply' in outcome) {
        const { status } = outcome.reply;
        if (status !== 429 && status < 500) return outcome.reply;
        kind = 'server';
        detail = serverError(outcome.reply);
      } else {
        kind = outcome.failure;
        detail = outcome.detail;
      }
      if (i + 1 >= attempts) {
        const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
        throw new ProviderError(
          `${this.where}: ${describe(query, this.origin)} failed after ${tries}: ${detail}`,
          kind,
          attempts,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, this.backoffMs * 2 ** i));
    }
  }

  private attempt(url: URL, method: 'GET' | 'POST', body: string | undefined): Promise<Attempt> {
    return new Promise((resolve, reject) => {
      const signal = AbortSignal.timeout(this.timeoutMs);
      const headers: Record<string, string> = { accept: 'application/json', ...this.headers };
      if (body !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      let oversize = false;
      const fail = (e: NodeJS.ErrnoException) => {
        if (oversize) {
          reject(
            new ConfigurationError(
              `the response from ${this.origin} is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB; narrow the query or use a coarser step`,
              this.where,
            ),
          );
        } else if (signal.aborted) {
          resolve({ failure: 'timeout', detail: `no complete answer within ${this.timeoutMs} ms` });
        } else if (e.code && TLS_CODES.has(e.code)) {
          reject(
            new ConfigurationError(
              `TLS verification of ${url.host} failed (${e.code}); give the CA that signed its certificate (tls caFile) or, for a test server only, skip verification`,
              this.where,
            ),
          );
        } else {
          // Node's message names the address ("connect ECONNREFUSED 127.0.0.1:9090"); an AggregateError from
          // trying IPv4 and IPv6 has only a code.
          resolve({ failure: 'network', detail: this.scrub(e.message || e.code || String(e)) });
        }
      };
      const transport = url.protocol === 'https:' ? https : http;
      const request = transport.request(url, { method, headers, agent: this.agent, signal }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            oversize = true;
            request.destroy();
          } else {
            chunks.push(chunk);
          }
        });
        response.on('error', fail);
        response.on('close', () => {
          if (!response.complete) return fail(new Error('the connection closed mid-response'));
          resolve({
            reply: { status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') },
          });
        });
      });
      request.on('error', fail);
      request.end(body);
    });
  }

  /** The ConfigurationError for a reply the caller could not use: auth, a wrong URL, anything else 4xx. */
  refusal(reply: Reply, query: string): ConfigurationError {
    const about = describe(query, this.origin);
    if (reply.status === 401 || reply.status === 403) {
      const hint = this.credentials
        ? `check the ${this.credentials}`
        : 'none were sent; give a bearer token, basic auth or headers';
      return new ConfigurationError(
        `${about}: the server refused the credentials (HTTP ${reply.status}); ${hint}`,
        this.where,
      );
    }
    if (reply.status === 404) {
      return new ConfigurationError(`${about}: HTTP 404 Not Found; check the url`, this.where);
    }
    const text = this.snippet(reply.body);
    return new ConfigurationError(`${about}: HTTP ${reply.status}${text ? `: ${text}` : ''}`, this.where);
  }
}

/** PromQL is full of double quotes: backticks keep a query readable in a message. */
function quote(query: string): string {
  return `\`${query}\``;
}

function describe(query: string, origin: string): string {
  return `query ${quote(query)} (${origin})`;
}

function positive(value: number, name: string, where: string): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value))
    throw new ConfigurationError(`${name} must be a positive number, got ${value}`, where);
  return value;
}

function parseUrl(raw: string, name: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigurationError(`${name} ${JSON.stringify(hideUserInfo(raw))} is not a URL`, where);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigurationError(`${name} must be http:// or https://, got ${url.protocol}`, where);
  return url;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function hideUserInfo(raw: string): string {
  return raw.replace(/\/\/[^/@]*@/, '//***@');
}

function seconds(date: Date, name: string): number {
  const ms = date instanceof Date ? date.getTime() : Number.NaN;
  if (!Number.isFinite(ms)) throw new ConfigurationError(`${name} is not a valid time`);
  return ms / 1000;
}

function checkWindow(start: Date, end: Date, stepSeconds: number): [number, number] {
  const from = seconds(start, 'the range start');
  const to = seconds(end, 'the range end');
  if (from > to)
    throw new ConfigurationError(
      `the range starts after it ends (${start.toISOString()} > ${end.toISOString()})`,
    );
  if (!(stepSeconds > 0) || !Number.isFinite(stepSeconds))
    throw new ConfigurationError(`the step must be a positive number of seconds, got ${stepSeconds}`);
  return [from, to];
}

/** Prometheus' text for special values; anything else is a decimal number. */
function parseValue(raw: unknown): number {
  if (typeof raw === 'number') return raw;
  if (typeof raw !== 'string') return Number.NaN;
  switch (raw.trim()) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
    case 'Infinity':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
    case '-Infinity':
      return Number.NEGATIVE_INFINITY;
  }
  // Number('') is 0 and Number(' ') too: neither is a value.
  return raw.trim() === '' ? Number.NaN : Number(raw);
}

function isNumeric(raw: unknown): boolean {
  if (typeof raw === 'number') return true;
  if (typeof raw !== 'string') return false;
  return /^\s*(?:[+-]?(?:Inf|Infinity)|NaN)\s*$/.test(raw) || !Number.isNaN(parseValue(raw));
}

// ---------------------------------------------------------------------------------------------------------
// Prometheus

/** Prometheus' HTTP API (/api/v1/query and /api/v1/query_range), or anything speaking it (Thanos, Mimir, VictoriaMetrics). */
export function prometheusProvider(options: ProviderOptions): MetricProvider {
  const where = 'prometheus';
  const base = parseUrl(options.url, 'url', where);
  // A path prefix (https://host/prometheus) is kept: the API lives under it.
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  base.search = '';
  base.hash = '';
  const transport = new Transport(options, where, base);

  async function call(endpoint: string, params: Record<string, string>, query: string): Promise<any> {
    // POST keeps long queries clear of URL length limits and out of proxies' access logs.
    const body = new URLSearchParams({ query, ...params }).toString();
    const reply = await transport.send(new URL(endpoint, base), 'POST', body, query, (r) =>
      serverError(r, transport),
    );
    const envelope = parseEnvelope(reply, transport, query);
    if (reply.status === 400 || reply.status === 422) {
      const reason = envelope?.error ? transport.scrub(errorText(envelope)) : transport.snippet(reply.body);
      throw new ConfigurationError(`the query ${quote(query)} was rejected: ${reason}`, where);
    }
    if (reply.status < 200 || reply.status >= 300) throw transport.refusal(reply, query);
    if (envelope?.status !== 'success') {
      const reason = envelope?.error
        ? transport.scrub(errorText(envelope))
        : `status ${JSON.stringify(envelope?.status)}`;
      throw new ConfigurationError(`the query ${quote(query)} was rejected: ${reason}`, where);
    }
    const data = envelope.data;
    if (!data || typeof data !== 'object' || !Array.isArray(data.result))
      throw notPrometheus(transport, query, 'it has no data.result');
    return data;
  }

  return {
    name: 'prometheus',

    async instant(query, at) {
      const params: Record<string, string> = {};
      if (at !== undefined) params.time = String(seconds(at, 'the query time'));
      const data = await call('api/v1/query', params, query);
      switch (data.resultType) {
        case 'scalar':
          return { kind: 'value', sample: pair(data.result, transport, query) };
        case 'vector': {
          if (data.result.length === 0)
            return noData(query, `no series${at ? ` at ${at.toISOString()}` : ''}`);
          const one = single(data.result, query);
          if (one.value === undefined) {
            const why = one.histogram
              ? 'is a native histogram; query a number from it, e.g. histogram_quantile(0.95, ...)'
              : 'has no value';
            throw new ConfigurationError(`the query ${quote(query)} ${why}`, where);
          }
          return { kind: 'value', sample: pair(one.value, transport, query), series: one.metric ?? {} };
        }
        case 'matrix':
          throw new ConfigurationError(
            `the query ${quote(query)} returns a range vector, not a number; wrap it in a function such as rate(), avg_over_time() or quantile_over_time()`,
            where,
          );
        case 'string':
          throw new ConfigurationError(`the query ${quote(query)} returns a string, not a number`, where);
        default:
          throw notPrometheus(transport, query, `unknown resultType ${JSON.stringify(data.resultType)}`);
      }
    },

    async range(query, start, end, stepSeconds) {
      const [from, to] = checkWindow(start, end, stepSeconds);
      const data = await call(
        'api/v1/query_range',
        { start: String(from), end: String(to), step: String(stepSeconds) },
        query,
      );
      if (data.resultType !== 'matrix')
        throw notPrometheus(
          transport,
          query,
          `a range query answered resultType ${JSON.stringify(data.resultType)}`,
        );
      const window = `between ${start.toISOString()} and ${end.toISOString()}`;
      if (data.result.length === 0) return noData(query, `no series ${window}`);
      const one = single(data.result, query);
      if (!Array.isArray(one.values) || one.values.length === 0) {
        if (one.histograms)
          throw new ConfigurationError(
            `the query ${quote(query)} is a native histogram; query a number from it, e.g. histogram_quantile(0.95, ...)`,
            where,
          );
        return noData(query, `no points ${window}`);
      }
      const samples = one.values.map((p: unknown) => pair(p, transport, query));
      return { kind: 'samples', samples, series: one.metric ?? {} };
    },
  };
}

function noData(query: string, what: string): QueryResult {
  return { kind: 'no-data', reason: `the query ${quote(query)} returned ${what}` };
}

function parseEnvelope(reply: Reply, transport: Transport, query: string): any {
  try {
    return JSON.parse(reply.body);
  } catch {
    // Only a success must be JSON; an error page from a proxy in front is reported by its status.
    if (reply.status >= 200 && reply.status < 300)
      throw notPrometheus(transport, query, 'the response is not JSON');
    return undefined;
  }
}

function errorText(envelope: any): string {
  return envelope.errorType ? `${envelope.errorType}: ${envelope.error}` : String(envelope.error);
}

function serverError(reply: Reply, transport: Transport): string {
  let envelope: any;
  try {
    envelope = JSON.parse(reply.body);
  } catch {}
  const text = envelope?.error ? transport.scrub(errorText(envelope)) : transport.snippet(reply.body);
  return `HTTP ${reply.status}${text ? `: ${text}` : ''}`;
}

function notPrometheus(transport: Transport, query: string, why: string): ConfigurationError {
  return new ConfigurationError(
    `${describe(query, transport.origin)}: not a Prometheus API answer (${why}); is the url a Prometheus server?`,
    transport.where,
  );
}

function pair(raw: unknown, transport: Transport, query: string): Sample {
  if (!Array.isArray(raw) || raw.length !== 2 || typeof raw[0] !== 'number' || !isNumeric(raw[1]))
    throw notPrometheus(transport, query, `a sample is ${JSON.stringify(raw)?.slice(0, 80)}`);
  return { t: raw[0], v: parseValue(raw[1]) };
}

/** The only series of a result, or an error that lists them and says how to get one. */
function single(result: any[], query: string): any {
  if (result.length === 1) return result[0];
  const labelSets: Record<string, string>[] = result.map((s) => s?.metric ?? {});
  const names = new Set(labelSets.flatMap((l) => Object.keys(l)));
  const varying = [...names].filter((n) => n !== '__name__' && new Set(labelSets.map((l) => l[n])).size > 1);
  const listed = labelSets.slice(0, LISTED_SERIES).map(formatLabels).join(', ');
  const more = labelSets.length > LISTED_SERIES ? ` and ${labelSets.length - LISTED_SERIES} more` : '';
  const example = varying.length > 0 ? `sum without (${varying.join(', ')}) (...)` : 'sum(...)';
  throw new ConfigurationError(
    `the query ${quote(query)} returned ${result.length} series where one is expected: ${listed}${more}; aggregate them into one (e.g. ${example} or avg(...)) or narrow the selector with label matchers`,
    'prometheus',
  );
}

/** As Prometheus prints a series: `name{label="value", ...}`. */
function formatLabels(labels: Record<string, string>): string {
  const { __name__: name = '', ...rest } = labels;
  const pairs = Object.entries(rest).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${name}{${pairs.join(', ')}}`;
}

// ---------------------------------------------------------------------------------------------------------
// HTTP JSON

const PLACEHOLDER = /\{\{\s*(\w+)\s*\}\}/g;
const PLACEHOLDERS = ['query', 'time', 'start', 'end', 'step'];

type PathStep = { key: string } | { index: number };

/**
 * A generic JSON endpoint: GET the url with {{query}} (and {{time}} for an instant, {{start}}, {{end}},
 * {{step}} for a range, in unix seconds) substituted URL-encoded, then read the number at valuePath, or the
 * points at samplesPath. A null on the way, or an array index past the end, is no data; a missing key is a
 * mistake in the path.
 */
export function httpJsonProvider(options: HttpJsonOptions): MetricProvider {
  const where = 'http-json';
  const template = options.url;
  if (typeof template !== 'string' || !/\{\{\s*query\s*\}\}/.test(template))
    throw new ConfigurationError('url must contain {{query}}, where the query goes', where);
  for (const [, name] of template.matchAll(PLACEHOLDER)) {
    if (!PLACEHOLDERS.includes(name))
      throw new ConfigurationError(
        `unknown placeholder {{${name}}} in url; the placeholders are ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')}`,
        where,
      );
  }
  const transport = new Transport(options, where, parseUrl(template.replace(PLACEHOLDER, '0'), 'url', where));
  const valuePath = parsePath(options.valuePath, 'valuePath', where);
  const samplesPath =
    options.samplesPath === undefined ? undefined : parsePath(options.samplesPath, 'samplesPath', where);
  const timeKey = options.timeKey ?? 't';
  const valueKey = options.valueKey ?? 'v';

  async function get(query: string, values: Record<string, string>): Promise<unknown> {
    const all: Record<string, string> = { ...values, query };
    const url = parseUrl(
      template.replace(PLACEHOLDER, (_, name: string) => encodeURIComponent(all[name] ?? '')),
      'url',
      where,
    );
    const reply = await transport.send(url, 'GET', undefined, query, (r) => {
      const text = transport.snippet(r.body);
      return `HTTP ${r.status}${text ? `: ${text}` : ''}`;
    });
    if (reply.status === 400 || reply.status === 422) {
      const text = transport.snippet(reply.body);
      throw new ConfigurationError(
        `the endpoint rejected the query ${quote(query)} (HTTP ${reply.status})${text ? `: ${text}` : ''}`,
        where,
      );
    }
    if (reply.status < 200 || reply.status >= 300) throw transport.refusal(reply, query);
    try {
      return JSON.parse(reply.body);
    } catch {
      throw new ConfigurationError(
        `${describe(query, transport.origin)}: the response is not JSON: ${transport.snippet(reply.body)}`,
        where,
      );
    }
  }

  /** `fallbackT` is the time of a bare value; a range point without a time is a mistake. */
  function sample(raw: unknown, fallbackT: number | undefined, path: string, query: string): Sample {
    const bad = (why: string) =>
      new ConfigurationError(`the query ${quote(query)}: the value at ${path} ${why}`, where);
    let t: unknown = fallbackT;
    let v: unknown = raw;
    if (Array.isArray(raw)) {
      if (raw.length !== 2) throw bad('is an array but not a [time, value] pair');
      [t, v] = raw;
    } else if (raw !== null && typeof raw === 'object') {
      const obj = raw as Record<string, unknown>;
      if (!(valueKey in obj)) throw bad(`has no "${valueKey}" key (valueKey)`);
      v = obj[valueKey];
      if (timeKey in obj) t = obj[timeKey];
    }
    if (t === undefined)
      throw bad(`has no time; give [time, value] pairs or objects with "${timeKey}" and "${valueKey}"`);
    if (!isNumeric(v)) throw bad(`is ${JSON.stringify(v)?.slice(0, 80)}, not a number`);
    const time = parseTime(t);
    if (time === undefined)
      throw bad(`has the time ${JSON.stringify(t)?.slice(0, 80)}, neither unix seconds nor a date`);
    return { t: time, v: parseValue(v) };
  }

  return {
    name: 'http-json',

    async instant(query, at) {
      const t = at ? seconds(at, 'the query time') : Date.now() / 1000;
      const body = await get(query, { time: String(t) });
      const found = resolvePath(body, valuePath, options.valuePath, where);
      if ('missing' in found) return noData(query, `nothing at ${options.valuePath} (${found.missing})`);
      return { kind: 'value', sample: sample(found.value, t, options.valuePath, query) };
    },

    async range(query, start, end, stepSeconds) {
      if (!samplesPath || options.samplesPath === undefined)
        throw new ConfigurationError(
          'range queries need samplesPath, the path to the array of points',
          where,
        );
      const [from, to] = checkWindow(start, end, stepSeconds);
      const body = await get(query, { start: String(from), end: String(to), step: String(stepSeconds) });
      const path = options.samplesPath;
      const found = resolvePath(body, samplesPath, path, where);
      if ('missing' in found) return noData(query, `nothing at ${path} (${found.missing})`);
      if (!Array.isArray(found.value))
        throw new ConfigurationError(`the value at ${path} is not an array of points`, where);
      if (found.value.length === 0) return noData(query, `no points at ${path}`);
      const samples = found.value.map((p, i) => sample(p, undefined, `${path}[${i}]`, query));
      samples.sort((a, b) => a.t - b.t);
      return { kind: 'samples', samples };
    },
  };
}

function parseTime(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (Number.isFinite(n)) return n;
  const ms = Date.parse(raw);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

/** `data.value`, `results[0].v`, `data["a.b"]`; a leading `$` is the whole body, as in JSONPath. */
function parsePath(source: string, name: string, where: string): PathStep[] {
  if (typeof source !== 'string' || source.trim() === '')
    throw new ConfigurationError(
      `${name} is empty; give a path such as data.value, or $ for the whole body`,
      where,
    );
  let rest = source.trim();
  if (rest.startsWith('$')) rest = rest.slice(1);
  const steps: PathStep[] = [];
  const token = /^(?:(^|\.)([A-Za-z_$][\w$-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\['([^']*)'\])/;
  while (rest.length > 0) {
    const m = token.exec(rest);
    if (!m || (m[1] === '' && steps.length > 0 && m[2] !== undefined))
      throw new ConfigurationError(
        `cannot read ${name} ${JSON.stringify(source)} at ${JSON.stringify(rest)}; write e.g. data.value or results[0].v`,
        where,
      );
    if (m[2] !== undefined) steps.push({ key: m[2] });
    else if (m[3] !== undefined) steps.push({ index: Number(m[3]) });
    else if (m[4] !== undefined) steps.push({ key: JSON.parse(`"${m[4]}"`) });
    else steps.push({ key: m[5] });
    rest = rest.slice(m[0].length);
  }
  return steps;
}

function resolvePath(
  body: unknown,
  steps: PathStep[],
  source: string,
  where: string,
): { value: unknown } | { missing: string } {
  let value = body;
  let at = '$';
  for (const step of steps) {
    if (value === null || value === undefined) return { missing: `${at} is null` };
    if ('index' in step) {
      if (!Array.isArray(value))
        throw new ConfigurationError(`${source}: ${at} is ${kindOf(value)}, not an array`, where);
      if (step.index >= value.length) return { missing: `${at} has ${value.length} items` };
      value = value[step.index];
      at += `[${step.index}]`;
    } else {
      if (typeof value !== 'object' || Array.isArray(value))
        throw new ConfigurationError(`${source}: ${at} is ${kindOf(value)}, not an object`, where);
      if (!Object.hasOwn(value, step.key)) {
        const keys = Object.keys(value);
        const list =
          keys.length === 0 ? 'none' : keys.slice(0, 10).join(', ') + (keys.length > 10 ? ', …' : '');
        throw new ConfigurationError(`${source}: ${at} has no key "${step.key}" (its keys: ${list})`, where);
      }
      value = (value as Record<string, unknown>)[step.key];
      at += `.${step.key}`;
    }
  }
  if (value === null || value === undefined) return { missing: `${at} is null` };
  return { value };
}

function kindOf(value: unknown): string {
  return Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
