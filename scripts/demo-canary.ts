/**
 * The canary part of `npm run demo`: the release of workflows-examples/release.yml, played on loopback.
 *
 *  - stable serves the previous release (examples/baseline.onnx); the canary serves the candidate
 *    (examples/model.onnx), which passed validate-model. The canary is worse in a way no offline gate sees:
 *    a serving fault, injected with the example server's switches: 10% of its predictions answer HTTP 500
 *    and each one takes 30 ms longer.
 *  - Clients send predictions to both; a real Prometheus scrapes both /metrics every second (the servers
 *    label their series with `variant`).
 *  - canary-gate judges the canary over a short analysis window, with release.yml's metrics, and says
 *    rollback; the rollback action's webhook target then posts a signed event to a receiver started here,
 *    which checks the signature as a real receiver would.
 *
 * Every server and process started here is stopped, and Prometheus' data directory removed, also on failure.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { prometheusBinary, startPrometheus } from '../examples/prometheus.js';
import { startServer } from '../examples/server/server.js';
import { canaryGate } from '../src/commands/canary-gate.js';
import { rollback } from '../src/commands/rollback.js';
import type { ExitCode } from '../src/errors.js';
import { runTerminal } from '../src/runtime/terminal.js';

/** The example model's input columns, in the order it takes them. */
export const FEATURES = [
  'tenure_months',
  'monthly_charges',
  'total_charges',
  'contract_months',
  'num_products',
  'support_tickets',
  'days_since_last_login',
  'satisfaction_score',
  'age',
];

/** The canary scenario needs only the prometheus binary; everything else is in the repository. */
export const canaryScenarioAvailable = prometheusBinary !== undefined;

const FAULT = { errorRate: 0.1, extraLatencyMs: 30 };
/** Scrapes of both servers before the analysis starts: enough range points for min-samples below. */
const SCRAPES_BEFORE_ANALYSIS = 15;

// release.yml's metrics, with windows shrunk from minutes to seconds for a 1 s scrape interval.
const METRICS = `
variants: { canary: canary, baseline: stable }
groups: { errors: 50, latency: 50 }
metrics:
  - name: error-rate
    group: errors
    critical: true
    # "or vector(0)": a variant that never answered a 5xx has no such series, and that is 0%, not no data.
    query: >-
      (sum(rate(http_requests_total{variant="{{variant}}",path="/predict",status=~"5.."}[10s])) or vector(0))
      / sum(rate(http_requests_total{variant="{{variant}}",path="/predict"}[10s]))
    threshold: canary - baseline <= 0.005
  - name: p95-latency
    group: latency
    kind: statistical
    query: >-
      histogram_quantile(0.95, sum by (le)
      (rate(http_request_duration_seconds_bucket{variant="{{variant}}",path="/predict"}[5s])))
    direction: increase
    allowed-increase: 1.1
    min-samples: 10
    step: 1
`;

export interface Delivery {
  method: string;
  path: string;
  event?: string;
  delivery?: string;
  signature?: string;
  /** The signature header is the HMAC-SHA256 of the exact body bytes with the shared secret. */
  signatureValid: boolean;
  body: string;
}

export interface CanaryScenarioResult {
  /** canary-gate's decision, read from its report as the rollback step reads it. */
  decision?: string;
  gateExitCode: ExitCode;
  rollbackExitCode?: ExitCode;
  /** What the webhook receiver got. */
  deliveries: Delivery[];
  /** Requests the clients sent to each variant, and how many of them were answered with a 5xx. */
  traffic: Record<Variant, { requests: number; errors: number }>;
  /** Why the run did not go as the story says; empty when it did. */
  problems: string[];
  /** Where everything ran; all of it is stopped, and the data directory removed, when the scenario returns. */
  endpoints: {
    stable?: string;
    canary?: string;
    prometheus?: string;
    prometheusDataDir?: string;
    receiver?: string;
  };
}

export interface CanaryScenarioOptions {
  /** Where canary-gate.json, rollback.json and their .md summaries go. */
  reportDir: string;
  /** Called before the canary-gate part and before the rollback part, for the caller's progress lines. */
  heading?: (title: string) => void;
  log?: (line: string) => void;
}

type Variant = 'stable' | 'canary';

export async function runCanaryScenario(options: CanaryScenarioOptions): Promise<CanaryScenarioResult> {
  const { heading = () => {}, log = console.log } = options;
  const example = (...path: string[]) => resolve('examples', ...path);
  const gateReport = join(options.reportDir, 'canary-gate.json');
  const rollbackReport = join(options.reportDir, 'rollback.json');
  const secret = randomBytes(24).toString('hex');
  const result: CanaryScenarioResult = {
    gateExitCode: 0,
    deliveries: [],
    traffic: { stable: { requests: 0, errors: 0 }, canary: { requests: 0, errors: 0 } },
    problems: [],
    endpoints: {},
  };
  // Run in reverse on the way out, each whatever the others do.
  const cleanups: (() => Promise<unknown>)[] = [];

  heading('canary-gate on live metrics: stable and a faulty canary, scraped by a real Prometheus');
  log(
    `(expected to say rollback: error-rate is a critical metric, and the canary answers ${FAULT.errorRate * 100}% of predictions with HTTP 500)\n`,
  );
  try {
    const receiver = await startReceiver(secret);
    cleanups.push(receiver.close);
    const stable = await startServer({ model: example('baseline.onnx'), port: 0, variant: 'stable' });
    cleanups.push(stable.close);
    const canary = await startServer({ model: example('model.onnx'), port: 0, variant: 'canary', ...FAULT });
    cleanups.push(canary.close);

    const rows = await featureRows(example('test.csv'));
    const traffic = driveTraffic({ stable: stable.url, canary: canary.url }, rows, result.traffic);
    cleanups.push(traffic.stop);
    const prometheus = await startPrometheus({
      scrapeTargets: [stable, canary].map((s) => `127.0.0.1:${s.port}`),
      scrapeInterval: '1s',
    });
    cleanups.push(prometheus.stop);
    result.endpoints = {
      stable: stable.url,
      canary: canary.url,
      prometheus: prometheus.url,
      prometheusDataDir: prometheus.dataDir,
      receiver: receiver.url,
    };
    log(`  stable  ${stable.url}  examples/baseline.onnx, the release in production`);
    log(
      `  canary  ${canary.url}  examples/model.onnx, with a serving fault: errorRate ${FAULT.errorRate}, extraLatencyMs ${FAULT.extraLatencyMs}`,
    );
    log(`  Prometheus ${prometheus.url} scraping both every 1 s; 2 clients per server sending predictions`);
    log(`  waiting for ${SCRAPES_BEFORE_ANALYSIS} scrapes of each server before the analysis starts...`);
    const waited = await waitForScrapes(prometheus.url, SCRAPES_BEFORE_ANALYSIS);
    log(`  scraped ${SCRAPES_BEFORE_ANALYSIS} times after ${Math.round(waited / 1000)} s\n`);

    result.gateExitCode = await runTerminal(canaryGate, [
      ...['--provider-url', prometheus.url, '--metrics', METRICS],
      ...['--interval', '2s', '--iterations', '5', '--lookback', '30s', '--max-age', '10s'],
      // One bad iteration (both metrics failing) is tolerated, a second stops the analysis; a healthy
      // canary would be promoted after three good iterations in a row.
      ...['--failure-limit', '2', '--consecutive-successes', '3'],
      // As release.yml: the step reports, the next step acts on the decision.
      ...['--fail-on-gate', 'false', '--report-path', gateReport],
    ]);
    result.decision = JSON.parse(await readFile(gateReport, 'utf8')).details?.decision;
    const t = result.traffic;
    log(
      `\n  traffic so far: stable ${t.stable.requests} requests (${t.stable.errors} answered 5xx), canary ${t.canary.requests} (${t.canary.errors} answered 5xx)`,
    );

    heading(`rollback through the webhook target: a signed POST to a receiver on ${receiver.url}`);
    // As release.yml: anything but promote rolls back.
    if (result.decision === 'promote') {
      log('  canary-gate promoted the canary: nothing to roll back');
    } else {
      result.rollbackExitCode = await runTerminal(rollback, [
        ...['--target', 'webhook', '--webhook-url', receiver.url, '--webhook-secret', secret],
        ...['--what', 'churn-model', '--from', 'model.onnx (canary)', '--to', 'baseline.onnx (stable)'],
        ...['--reason', gateReport, '--timeout', '30s', '--report-path', rollbackReport],
      ]);
    }
    result.deliveries = receiver.deliveries;
    log(`\n  the receiver got ${receiver.deliveries.length} request(s):`);
    for (const d of receiver.deliveries) log(describeDelivery(d));
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((e) => log(`  could not stop a demo server: ${(e as Error).message}`));
    }
  }

  const p = result.problems;
  if (result.gateExitCode !== 0) p.push(`canary-gate exited ${result.gateExitCode} (expected 0)`);
  if (result.decision !== 'rollback') p.push(`canary-gate decided ${result.decision} (expected rollback)`);
  if (result.rollbackExitCode !== undefined && result.rollbackExitCode !== 0)
    p.push(`rollback exited ${result.rollbackExitCode} (expected 0)`);
  if (result.deliveries.length !== 1)
    p.push(`the webhook receiver got ${result.deliveries.length} requests (expected 1)`);
  else if (!result.deliveries[0].signatureValid)
    p.push('the webhook request carried no valid X-Mlgate-Signature-256');
  return result;
}

/** The first rows of a CSV file, as the model's feature vectors. The example file has no quoted fields. */
async function featureRows(path: string, limit = 500): Promise<number[][]> {
  const [header, ...lines] = (await readFile(path, 'utf8')).trimEnd().split('\n');
  const columns = header.split(',');
  const index = FEATURES.map((f) => columns.indexOf(f));
  return lines.slice(0, limit).map((line) => {
    const cells = line.split(',');
    return index.map((i) => Number(cells[i]));
  });
}

/**
 * Closed-loop clients with a pause between requests: steady traffic that leaves the two shared cores to
 * Prometheus and the analysis.
 */
function driveTraffic(
  urls: Record<Variant, string>,
  rows: number[][],
  counts: CanaryScenarioResult['traffic'],
  clientsPerServer = 2,
  pauseMs = 20,
) {
  let stopped = false;
  const client = async (variant: Variant, offset: number) => {
    for (let i = offset; !stopped; i++) {
      try {
        const res = await fetch(`${urls[variant]}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ features: rows[i % rows.length] }),
        });
        await res.arrayBuffer();
        counts[variant].requests++;
        if (res.status >= 500) counts[variant].errors++;
      } catch {
        // A server going away at the end of the demo.
      }
      await sleep(pauseMs);
    }
  };
  const clients = (['stable', 'canary'] as const).flatMap((variant) =>
    Array.from({ length: clientsPerServer }, (_, k) => client(variant, k * 97)),
  );
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(clients);
    },
  };
}

/** Waits until Prometheus holds `scrapes` samples of both servers' series; returns how long that took. */
async function waitForScrapes(url: string, scrapes: number, timeoutMs = 120_000): Promise<number> {
  const started = Date.now();
  const query = new URLSearchParams({ query: 'count_over_time(model_predictions_total[5m])' });
  let seen = 'nothing yet';
  while (Date.now() - started < timeoutMs) {
    try {
      const body = (await (await fetch(`${url}/api/v1/query?${query}`)).json()) as {
        data?: { result?: { metric: { variant?: string }; value: [number, string] }[] };
      };
      const count = (variant: Variant) =>
        Number(body.data?.result?.find((r) => r.metric.variant === variant)?.value[1] ?? 0);
      seen = `stable ${count('stable')}, canary ${count('canary')}`;
      if (count('stable') >= scrapes && count('canary') >= scrapes) return Date.now() - started;
    } catch {}
    await sleep(500);
  }
  throw new Error(
    `Prometheus did not scrape both servers ${scrapes} times within ${timeoutMs / 1000} s (${seen})`,
  );
}

interface Receiver {
  url: string;
  deliveries: Delivery[];
  close(): Promise<void>;
}

/** A webhook receiver as the rollback README asks for: the signature is checked over the raw body first. */
async function startReceiver(secret: string): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const header = (req: IncomingMessage, name: string) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const raw = Buffer.concat(chunks);
    const signature = header(req, 'x-mlgate-signature-256');
    const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
    const given = Buffer.from(signature ?? '');
    const signatureValid = given.length === expected.length && timingSafeEqual(given, expected);
    deliveries.push({
      method: req.method ?? '',
      path: req.url ?? '',
      event: header(req, 'x-mlgate-event'),
      delivery: header(req, 'x-mlgate-delivery'),
      signature,
      signatureValid,
      body: raw.toString('utf8'),
    });
    res.writeHead(signatureValid ? 202 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(signatureValid ? { accepted: true } : { error: 'bad signature' }));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/rollback`,
    deliveries,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

function describeDelivery(d: Delivery): string {
  let body = d.body;
  try {
    body = JSON.stringify(JSON.parse(d.body), null, 2);
  } catch {}
  return [
    `    ${d.method} ${d.path}`,
    `    X-Mlgate-Event: ${d.event}`,
    `    X-Mlgate-Delivery: ${d.delivery}`,
    `    X-Mlgate-Signature-256: ${d.signature?.slice(0, 23)}… ${
      d.signatureValid
        ? 'valid: the HMAC-SHA256 of the body with the shared secret'
        : 'INVALID: not the HMAC-SHA256 of the body with the shared secret'
    }`,
    ...body.split('\n').map((line) => `    ${line}`),
  ].join('\n');
}
