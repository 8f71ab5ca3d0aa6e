/**
 * A reference model server: an ONNX model behind the HTTP contract common FastAPI model servers use
 * (/health, /ready, /predict, /predict/batch, /metrics), for mlgate's benchmark and canary demos.
 *
 *   npx tsx examples/server/server.ts --model examples/model.onnx --port 8080
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { parseModel, withExtraOutput } from '../../src/model/onnx.js';
import { planOutputs } from '../../src/model/outputs.js';

export interface ServerOptions {
  /** Path to an .onnx file. */
  model: string;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 8080; 0 picks an ephemeral port. */
  port?: number;
  /** Label added to every metric, e.g. 'canary' or 'stable'. Default 'default'. */
  variant?: string;
  /** Added to every predict response, to simulate a slower model. */
  extraLatencyMs?: number;
  /** Share of predict requests answered 500; deterministic, so demos and tests repeat exactly. */
  errorRate?: number;
  /** /ready answers 503 until this long after start, to exercise clients that wait for readiness. */
  readyDelayMs?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { host = '127.0.0.1', port = 8080, variant = 'default', errorRate = 0, extraLatencyMs = 0 } = options;
  if (errorRate < 0 || errorRate > 1) {
    throw new RangeError(`errorRate must be within [0, 1], got ${errorRate}`);
  }
  const readyAt = Date.now() + (options.readyDelayMs ?? 0);
  const metrics = new Metrics(variant);
  let model: Model | undefined;
  let predictRequests = 0;

  async function predict(rows: number[][]): Promise<Prediction> {
    if (!model) throw new HttpError(503, 'model is loading');
    const k = ++predictRequests;
    if (extraLatencyMs > 0) await sleep(extraLatencyMs);
    if (Math.floor(k * errorRate) > Math.floor((k - 1) * errorRate)) {
      throw new HttpError(500, 'simulated failure (errorRate)');
    }
    const result = await runModel(model, rows);
    metrics.predictions += rows.length;
    return result;
  }

  const routes: Record<string, Record<string, (req: IncomingMessage) => Promise<Reply> | Reply>> = {
    '/health': { GET: () => ({ status: 200, body: { status: 'ok' } }) },
    '/ready': {
      GET: () =>
        model && Date.now() >= readyAt
          ? { status: 200, body: { status: 'ready' } }
          : { status: 503, body: { status: 'loading' } },
    },
    '/predict': {
      POST: async (req) => {
        const features = checkRow(field(await readJson(req), 'features'), ['body', 'features'], model);
        const result = await predict([features]);
        return {
          status: 200,
          body: { prediction: result.predictions[0], probabilities: result.probabilities?.[0] },
        };
      },
    },
    '/predict/batch': {
      POST: async (req) => {
        const loc = ['body', 'instances'];
        const instances = field(await readJson(req), 'instances');
        if (!Array.isArray(instances)) throw invalid(loc, 'Input should be a valid list', 'list_type');
        if (instances.length === 0) {
          throw invalid(loc, 'List should have at least 1 item after validation, not 0', 'too_short');
        }
        const issues = instances.flatMap((row, i) => rowIssues(row, [...loc, i], model));
        if (issues.length > 0) throw new HttpError(422, issues);
        return { status: 200, body: await predict(instances) };
      },
    },
    '/metrics': {
      GET: () => ({
        status: 200,
        body: metrics.render(),
        headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
      }),
    },
  };

  const server = createServer(async (req, res) => {
    const started = performance.now();
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    // Raw paths as labels would let any client grow the metrics without bound.
    const pathLabel = route ? path : 'unmatched';
    res.on('finish', () =>
      metrics.observe(req.method ?? '', pathLabel, res.statusCode, (performance.now() - started) / 1000),
    );
    let reply: Reply;
    try {
      if (!route) throw new HttpError(404, 'Not Found');
      const handler = route[req.method ?? ''];
      if (!handler) throw new HttpError(405, 'Method Not Allowed', { allow: Object.keys(route).join(', ') });
      reply = await handler(req);
    } catch (e) {
      reply =
        e instanceof HttpError
          ? { status: e.status, body: { detail: e.detail }, headers: e.headers }
          : { status: 500, body: { detail: e instanceof Error ? e.message : String(e) } };
    }
    send(res, reply);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const close = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Idle keep-alive connections would hold close() open for seconds.
      server.closeAllConnections();
    });
    await model?.session.release();
  };
  // Listening before the model loads lets /health answer while /ready still says "loading".
  try {
    model = await openModel(options.model);
  } catch (e) {
    await close();
    throw e;
  }
  const actualPort = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${urlHost}:${actualPort}`, port: actualPort, close };
}

interface Model {
  session: ort.InferenceSession;
  input: string;
  inputType: 'float32' | 'float64';
  features: number;
  /** The output answered as `prediction`: the label when the model has one, else its first output. */
  prediction: string;
  probabilities?: string;
  classLabels?: string[];
}

interface Prediction {
  predictions: unknown[];
  probabilities?: Record<string, unknown>[];
}

async function openModel(path: string): Promise<Model> {
  const bytes = await readFile(path);
  const info = parseModel(bytes);
  const input = info.inputs[0];
  const features = input?.shape?.length === 2 ? input.shape[1] : null;
  const inputType = input?.elemType;
  if (info.inputs.length !== 1 || typeof features !== 'number' || features <= 0) {
    throw new Error(`${path}: this server feeds models with one input of shape [N, F] with a fixed F`);
  }
  if (inputType !== 'float32' && inputType !== 'float64') {
    throw new Error(`${path}: input "${input.name}" is ${inputType}; this server feeds float32 or float64`);
  }
  const plan = planOutputs(info);
  const prediction = plan.label?.name ?? info.outputs.find((o) => o.kind === 'tensor')?.name;
  if (!prediction) throw new Error(`${path}: the model has no tensor output to answer with`);
  const probabilities = plan.label ? plan.probabilities : undefined;
  // skl2onnx classifiers hand their probabilities to ZipMap, whose seq(map) onnxruntime-node cannot
  // return: expose ZipMap's input tensor as an extra output and pair it with the class labels ourselves.
  const session = await ort.InferenceSession.create(
    probabilities?.hidden ? withExtraOutput(bytes, probabilities.name) : bytes,
    // Spinning worker threads would steal the cores a load generator on the same machine needs.
    { extra: { session: { intra_op: { allow_spinning: '0' } } } },
  );
  return {
    session,
    input: input.name,
    inputType,
    features,
    prediction,
    probabilities: probabilities?.name,
    classLabels: plan.classLabels,
  };
}

async function runModel(model: Model, rows: number[][]): Promise<Prediction> {
  const flat = rows.flat();
  const data = model.inputType === 'float64' ? Float64Array.from(flat) : Float32Array.from(flat);
  const fetches = model.probabilities ? [model.prediction, model.probabilities] : [model.prediction];
  const out = await model.session.run(
    { [model.input]: new ort.Tensor(data, [rows.length, model.features]) },
    fetches,
  );
  const predictions = rowsOf(out[model.prediction], rows.length).map((row) =>
    row.length === 1 ? row[0] : row,
  );
  if (!model.probabilities) return { predictions };
  const probabilities = rowsOf(out[model.probabilities], rows.length).map((row) =>
    Object.fromEntries(row.map((p, j) => [model.classLabels?.[j] ?? String(j), p])),
  );
  return { predictions, probabilities };
}

/** A [N, ...] tensor as N rows of JSON values (int64 arrives as bigint, which JSON cannot carry). */
function rowsOf(tensor: ort.Tensor, n: number): unknown[][] {
  const values = Array.from(tensor.data as ArrayLike<unknown>, (v) =>
    typeof v === 'bigint' ? Number(v) : v,
  );
  const width = values.length / n;
  return Array.from({ length: n }, (_, i) => values.slice(i * width, (i + 1) * width));
}

// --- HTTP plumbing -------------------------------------------------------------------------------------

interface Reply {
  status: number;
  /** A string is sent as is (metrics), anything else as JSON. */
  body: unknown;
  headers?: Record<string, string>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(`HTTP ${status}`);
  }
}

function send(res: ServerResponse, reply: Reply) {
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json',
    ...reply.headers,
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Keep reading past the limit without storing: answering mid-upload makes clients see a reset, not a 413.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw invalid(['body'], 'JSON decode error', 'json_invalid');
  }
}

// --- Validation, shaped like FastAPI's 422 answers -------------------------------------------------------

interface Issue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

function invalid(loc: Issue['loc'], msg: string, type: string) {
  return new HttpError(422, [{ loc, msg, type }]);
}

function field(body: unknown, key: string): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid(
      ['body'],
      'Input should be a valid dictionary or object to extract fields from',
      'model_attributes_type',
    );
  }
  if (!Object.hasOwn(body, key)) throw invalid(['body', key], 'Field required', 'missing');
  return (body as Record<string, unknown>)[key];
}

function checkRow(row: unknown, loc: Issue['loc'], model: Model | undefined): number[] {
  const issues = rowIssues(row, loc, model);
  if (issues.length > 0) throw new HttpError(422, issues);
  return row as number[];
}

function rowIssues(row: unknown, loc: Issue['loc'], model: Model | undefined): Issue[] {
  if (!Array.isArray(row)) return [{ loc, msg: 'Input should be a valid list', type: 'list_type' }];
  // Until the model loads its width is unknown; predict() answers 503 then anyway.
  const width = model?.features ?? row.length;
  if (row.length < width) {
    return [
      {
        loc,
        msg: `List should have at least ${width} items after validation, not ${row.length}`,
        type: 'too_short',
      },
    ];
  }
  if (row.length > width) {
    return [
      {
        loc,
        msg: `List should have at most ${width} items after validation, not ${row.length}`,
        type: 'too_long',
      },
    ];
  }
  return row.flatMap((v, i) =>
    typeof v === 'number'
      ? []
      : [{ loc: [...loc, i], msg: 'Input should be a valid number', type: 'float_type' }],
  );
}

// --- Prometheus metrics -----------------------------------------------------------------------------------

class Metrics {
  predictions = 0;
  /** Keyed by the rendered label set, which is also how each series is written out. */
  private readonly requests = new Map<string, number>();
  private readonly durations = new Map<string, { buckets: number[]; sum: number; count: number }>();

  constructor(private readonly variant: string) {}

  observe(method: string, path: string, status: number, seconds: number) {
    const key = labels({ variant: this.variant, method, path, status: String(status) });
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const hKey = labels({ variant: this.variant, path });
    let h = this.durations.get(hKey);
    if (!h) {
      h = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.durations.set(hKey, h);
    }
    // Buckets are cumulative in the format: an observation counts in every bucket it fits under.
    BUCKETS.forEach((le, i) => {
      if (seconds <= le) h.buckets[i]++;
    });
    h.sum += seconds;
    h.count++;
  }

  render(): string {
    const lines = [
      '# HELP http_requests_total HTTP requests answered, by method, path and status.',
      '# TYPE http_requests_total counter',
      ...[...this.requests].map(([key, n]) => `http_requests_total{${key}} ${n}`),
      '# HELP http_request_duration_seconds Time to answer HTTP requests, by path.',
      '# TYPE http_request_duration_seconds histogram',
    ];
    for (const [key, h] of this.durations) {
      BUCKETS.forEach((le, i) => {
        lines.push(`http_request_duration_seconds_bucket{${key},le="${le}"} ${h.buckets[i]}`);
      });
      lines.push(`http_request_duration_seconds_bucket{${key},le="+Inf"} ${h.count}`);
      lines.push(`http_request_duration_seconds_sum{${key}} ${h.sum}`);
      lines.push(`http_request_duration_seconds_count{${key}} ${h.count}`);
    }
    lines.push(
      '# HELP model_predictions_total Rows the model predicted.',
      '# TYPE model_predictions_total counter',
      `model_predictions_total{${labels({ variant: this.variant })}} ${this.predictions}`,
    );
    return `${lines.join('\n')}\n`;
  }
}

function labels(values: Record<string, string>): string {
  const escaped = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return Object.entries(values)
    .map(([name, value]) => `${name}="${escaped(value)}"`)
    .join(',');
}

// --- CLI ------------------------------------------------------------------------------------------------

async function main() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string', default: '8080' },
      variant: { type: 'string' },
      'extra-latency-ms': { type: 'string', default: '0' },
      'error-rate': { type: 'string', default: '0' },
      'ready-delay-ms': { type: 'string', default: '0' },
    },
  });
  if (!values.model) throw new Error('--model is required: the path to an .onnx file');
  const numberOption = (name: keyof typeof values) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < 0)
      throw new Error(`--${name} must be a number >= 0, got "${values[name]}"`);
    return n;
  };
  const server = await startServer({
    model: values.model,
    host: values.host,
    port: numberOption('port'),
    variant: values.variant,
    extraLatencyMs: numberOption('extra-latency-ms'),
    errorRate: numberOption('error-rate'),
    readyDelayMs: numberOption('ready-delay-ms'),
  });
  console.log(`Serving ${values.model} at ${server.url}`);
  const stop = () => void server.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
