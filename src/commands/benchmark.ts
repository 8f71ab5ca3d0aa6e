/**
 * benchmark: latency and throughput of a model in-process or of an endpoint over HTTP, per level of a
 * sweep (batch sizes; concurrencies or request rates), gated on percentiles, and compared with a baseline
 * measured in the same job (alternating windows) or stored in an earlier report.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import { Engine } from '../data/engine.js';
import { expandDataInput } from '../data/files.js';
import { ConfigurationError } from '../errors.js';
import { evaluateGates, type Gate, loadGates, type SliceMetrics } from '../gates/index.js';
import { independentRatio, mannWhitney, pairedTrialRatio, type RatioInterval } from '../latency/compare.js';
import { Histogram, type HistogramJSON } from '../latency/histogram.js';
import { HttpLoad, renderBodies, waitReady } from '../latency/http.js';
import {
  type Arm,
  type Level,
  type Measured,
  type MeasureSettings,
  measure,
  measureInterleaved,
} from '../latency/measure.js';
import {
  ModelArm,
  type ModelSettings,
  type OpenedModel,
  openModel,
  type Rows,
} from '../latency/model-target.js';
import type { Logger } from '../logging.js';
import { PINS } from '../native/index.js';
import { buildReport } from '../report/json.js';
import type { Command, CommandResult } from '../runtime/command.js';
import { input, parseHeaders, type RawInputs, redactUrl, safeUrl } from '../runtime/inputs.js';
import { renderBenchmark } from './benchmark-summary.js';

export interface BenchmarkInputs {
  model?: string;
  baselineModel?: string;
  data: string[];
  featureColumns?: string[];
  dims: Record<string, number>;
  batchSizes: number[];
  threads?: number;
  graphOptimization: ModelSettings['graphOptimization'];
  provider: ModelSettings['provider'];
  fallback: ModelSettings['fallback'];
  url?: string;
  baselineUrl?: string;
  method: string;
  bodyTemplate: string;
  headers: Record<string, string>;
  readyUrl?: string;
  readyTimeoutMs: number;
  requestTimeoutMs: number;
  expectStatus: (status: number) => boolean;
  expectBody?: RegExp;
  concurrency: number[];
  rates: number[];
  arrival: 'constant' | 'poisson';
  settings: MeasureSettings;
  trials: number;
  baselineReport?: string;
  regressionThreshold: number;
  confidence: number;
  gates: string;
  gatesFile?: string;
}

function parseDims(raw: RawInputs): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const item of input.list(raw, 'dims')) {
    const m = /^([^=\s]+)\s*=\s*(\d+)$/.exec(item);
    if (!m || Number(m[2]) < 1)
      throw new ConfigurationError(`expected name=size such as sequence=128, got "${item}"`, 'input "dims"');
    dims[m[1]] = Number(m[2]);
  }
  return dims;
}

function parseExpectStatus(text: string): (status: number) => boolean {
  const items = text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const tests = items.map((item) => {
    if (/^[1-5]xx$/.test(item)) return (s: number) => Math.floor(s / 100) === Number(item[0]);
    if (/^[1-5]\d\d$/.test(item)) return (s: number) => s === Number(item);
    throw new ConfigurationError(
      `expected codes such as 2xx or 200,201, got "${item}"`,
      'input "expect-status"',
    );
  });
  if (tests.length === 0)
    throw new ConfigurationError('is empty: give 2xx or a list of codes', 'input "expect-status"');
  return (s) => tests.some((t) => t(s));
}

export function readBenchmarkInputs(raw: RawInputs): BenchmarkInputs {
  const expectBody = input.optional(raw, 'expect-body');
  let bodyPattern: RegExp | undefined;
  try {
    bodyPattern = expectBody ? new RegExp(expectBody) : undefined;
  } catch (e) {
    throw new ConfigurationError(
      `is not a valid regular expression: ${(e as Error).message}`,
      'input "expect-body"',
    );
  }
  const featureColumns = input.list(raw, 'feature-columns');
  const inputs: BenchmarkInputs = {
    model: input.optional(raw, 'model'),
    baselineModel: input.optional(raw, 'baseline-model'),
    data: input.list(raw, 'data'),
    featureColumns: featureColumns.length > 0 ? featureColumns : undefined,
    dims: parseDims(raw),
    batchSizes: input.numbers(raw, 'batch-sizes', { integer: true }),
    threads: input.intOrAuto(raw, 'threads', 1),
    graphOptimization: input.choice(raw, 'graph-optimization', [
      'disabled',
      'basic',
      'extended',
      'all',
    ] as const),
    provider: input.choice(raw, 'execution-provider', ['cpu', 'cuda'] as const),
    fallback: input.choice(raw, 'provider-fallback', ['fail', 'cpu'] as const),
    url: input.optional(raw, 'url'),
    baselineUrl: input.optional(raw, 'baseline-url'),
    method: input.string(raw, 'method').toUpperCase() || 'POST',
    bodyTemplate: input.lines(raw, 'body-template'),
    headers: parseHeaders(raw.get('headers')),
    readyUrl: input.optional(raw, 'ready-url'),
    readyTimeoutMs: input.duration(raw, 'ready-timeout'),
    requestTimeoutMs: input.duration(raw, 'request-timeout'),
    expectStatus: parseExpectStatus(input.string(raw, 'expect-status')),
    expectBody: bodyPattern,
    concurrency: input.numbers(raw, 'concurrency', { integer: true }),
    rates: input.numbers(raw, 'rate'),
    arrival: input.choice(raw, 'arrival', ['constant', 'poisson'] as const),
    settings: {
      warmupMs: input.duration(raw, 'warmup'),
      minDurationMs: input.duration(raw, 'min-duration'),
      minCount: input.int(raw, 'min-count', 1),
      windowMs: Math.max(1, input.duration(raw, 'window')),
      stability: input.number(raw, 'stability', { min: 0, max: 1, percent: true }),
      maxWindows: input.int(raw, 'max-windows', 1),
    },
    trials: input.int(raw, 'trials', 1),
    baselineReport: input.optional(raw, 'baseline-report'),
    regressionThreshold: input.number(raw, 'regression-threshold', { min: 0, percent: true }) ?? 0.05,
    confidence: input.number(raw, 'confidence', { min: 0.5, max: 0.999 }) ?? 0.95,
    gates: input.lines(raw, 'gates'),
    gatesFile: input.optional(raw, 'gates-file'),
  };
  if (!inputs.model === !inputs.url) {
    throw new ConfigurationError(
      inputs.model
        ? 'give model or url, not both: run the action twice to measure both'
        : 'give model (in-process) or url (HTTP endpoint)',
      'inputs "model" and "url"',
    );
  }
  for (const name of ['url', 'baseline-url', 'ready-url'] as const) {
    const value = input.optional(raw, name);
    if (value && !/^https?:$/.test(safeUrl(value)?.protocol ?? '')) {
      throw new ConfigurationError(
        `expected an http:// or https:// URL, got "${redactUrl(value)}"`,
        `input "${name}"`,
      );
    }
  }
  if (inputs.baselineModel && !inputs.model)
    throw new ConfigurationError('needs model: the two are measured side by side', 'input "baseline-model"');
  if (inputs.baselineUrl && !inputs.url)
    throw new ConfigurationError('needs url: the two are measured side by side', 'input "baseline-url"');
  return inputs;
}

/** Gates when none are configured: an endpoint answers, and nothing got slower than its baseline. */
function defaultGates(inputs: BenchmarkInputs): string {
  return [
    inputs.url ? 'error_rate <= 0.01' : '',
    inputs.baselineModel || inputs.baselineUrl || inputs.baselineReport ? 'p95_ms <= baseline * 1.10' : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** The latency metrics per level: name -> percentile (null: not a percentile). */
const PERCENTILES = { p50_ms: 50, p90_ms: 90, p95_ms: 95, p99_ms: 99, p999_ms: 99.9 } as const;
/** The percentiles compared with a baseline, with an interval each. */
const COMPARED = ['p50_ms', 'p95_ms', 'p99_ms'] as const;
export const LEVEL_METRICS = [
  ...Object.keys(PERCENTILES),
  'mean_ms',
  'stdev_ms',
  'max_ms',
  'throughput',
  'error_rate',
] as const;
/** Higher is better for these; for the others lower is better (the worst level is the highest). */
const HIGHER_IS_BETTER = new Set(['throughput']);

/** Rows of data read for inputs and bodies: enough for every batch to differ. */
const ROWS_READ = 10_000;

type LevelMetrics = Record<(typeof LEVEL_METRICS)[number], number | null>;

export interface Comparison {
  kind: 'interleaved' | 'report';
  ratios: Record<string, RatioInterval>;
  /** One-sided Mann-Whitney: is the candidate slower? */
  pValue: number;
  significant: boolean;
  regression: boolean;
}

export interface LevelResult {
  level: Level;
  metrics: LevelMetrics;
  measured: Omit<Measured, 'histogram'> & { histogram: HistogramJSON };
  baseline?: { metrics: LevelMetrics; histogram: HistogramJSON };
  comparison?: Comparison;
}

function levelMetrics(m: Measured, unitsPerCall: number): LevelMetrics {
  const h = m.histogram;
  const any = h.count > 0;
  const calls = m.sent;
  return {
    ...(Object.fromEntries(
      Object.entries(PERCENTILES).map(([name, p]) => [name, any ? h.percentile(p) : null]),
    ) as Record<keyof typeof PERCENTILES, number | null>),
    mean_ms: any ? h.mean : null,
    stdev_ms: any ? h.stdev : null,
    max_ms: any ? h.max : null,
    // In-process: rows per second; over HTTP: successful requests per second.
    throughput: m.elapsedMs > 0 ? (m.ok * unitsPerCall) / (m.elapsedMs / 1000) : null,
    error_rate: calls > 0 ? (calls - m.ok) / calls : null,
  };
}

const levelKey = (level: Level) => `${level.name}=${level.value}`;

export const benchmark: Command<BenchmarkInputs> = {
  name: 'benchmark',
  title: 'Benchmark',
  readInputs: readBenchmarkInputs,
  secrets: (raw) => {
    try {
      return Object.values(parseHeaders(raw.get('headers')));
    } catch {
      // An unparseable headers input is reported by readInputs; mask its lines whole meanwhile.
      return raw
        .get('headers')
        .split(/\r?\n/)
        .filter((l) => l.trim() !== '');
    }
  },
  async run(inputs, logger) {
    const gates = loadGates(
      inputs.gates.trim() || inputs.gatesFile ? inputs.gates : defaultGates(inputs),
      inputs.gatesFile,
    );
    const levels: Level[] = inputs.model
      ? inputs.batchSizes.map((value) => ({ name: 'batch', value }))
      : inputs.rates.length > 0
        ? inputs.rates.map((value) => ({ name: 'rate', value }))
        : inputs.concurrency.map((value) => ({ name: 'concurrency', value }));
    const known = [
      ...LEVEL_METRICS,
      ...levels.flatMap((l) => LEVEL_METRICS.map((m) => `${m}(${l.value})`)),
      ...(inputs.model ? ['load_ms'] : []),
    ];
    // Checked before minutes of measuring: a typo in a gate should cost seconds.
    evaluateGates(gates, { metrics: {}, known });
    const stored = inputs.baselineReport ? readBaselineReport(inputs.baselineReport) : undefined;
    const rows =
      inputs.data.length > 0 ? await readRows(inputs.data, inputs.featureColumns, logger) : undefined;
    const target = inputs.model
      ? await modelTarget(inputs, rows, logger)
      : await httpTarget(inputs, rows, levels, logger);
    try {
      const results: LevelResult[] = [];
      for (const level of levels) {
        results.push(
          await logger.group(`Measuring at ${levelKey(level)}`, () =>
            measureLevel(level, target, inputs, stored, logger),
          ),
        );
      }
      return result(inputs, gates, known, results, target, stored);
    } finally {
      await target.close();
    }
  },
};

interface Target {
  kind: 'model' | 'http';
  candidate: Arm;
  baseline?: Arm;
  /** Rows per call: the batch size in-process, 1 over HTTP (a batch endpoint's rows are in its body). */
  unitsPerCall(level: Level): number;
  details: Record<string, unknown>;
  loadMs?: number;
  provider?: string;
  close(): Promise<void>;
}

async function readRows(spec: string[], featureColumns: string[] | undefined, logger: Logger): Promise<Rows> {
  const engine = await Engine.open(logger);
  try {
    const files = expandDataInput(spec, 'data');
    const header = await engine.sharedColumns(files);
    const missing = (featureColumns ?? []).filter((c) => !header.includes(c));
    if (missing.length > 0) {
      throw new ConfigurationError(
        `${missing.map((c) => `"${c}"`).join(', ')} not in ${files[0].path} (columns: ${header.join(', ')})`,
        'input "feature-columns"',
      );
    }
    const rows = await engine.head(files, header, ROWS_READ);
    if (rows.length === 0)
      throw new ConfigurationError('the file has a header but no data rows', files[0].path);
    // Only the feature columns feed the model or the body, in the order given.
    const keep = featureColumns ?? header;
    const at = keep.map((c) => header.indexOf(c));
    return { file: files[0].path, header: keep, rows: rows.map((r) => at.map((i) => r[i])) };
  } finally {
    engine.close();
  }
}

async function modelTarget(inputs: BenchmarkInputs, rows: Rows | undefined, logger: Logger): Promise<Target> {
  const settings: ModelSettings = {
    threads: inputs.threads,
    graphOptimization: inputs.graphOptimization,
    provider: inputs.provider,
    fallback: inputs.fallback,
    dims: inputs.dims,
  };
  const source = rows ? { rows } : { generate: inputs.dims };
  const open = async (path: string, name: string) => {
    const opened: OpenedModel = await logger.group(`Loading ${path}`, () =>
      openModel(path, name, settings, logger),
    );
    const arm = await ModelArm.create(opened, source, logger);
    // Inputs for every batch size are built now, so that a model they cannot feed fails before measuring.
    for (const b of inputs.batchSizes) arm.prepare(b);
    return arm;
  };
  const candidate = await open(inputs.model!, 'model');
  const baseline = inputs.baselineModel ? await open(inputs.baselineModel, 'baseline-model') : undefined;
  const describe = (arm: ModelArm) => ({
    path: arm.opened.model.path,
    sizeBytes: arm.opened.model.sizeBytes,
    loadMs: arm.opened.loadMs,
    inputs: arm.opened.model.info.inputs.map((i) => ({ name: i.name, type: i.elemType, shape: i.shape })),
  });
  return {
    kind: 'model',
    candidate,
    baseline,
    unitsPerCall: (level) => level.value,
    loadMs: candidate.opened.loadMs,
    provider: candidate.opened.provider.used,
    details: {
      model: describe(candidate),
      ...(baseline ? { baselineModel: describe(baseline) } : {}),
      provider: candidate.opened.provider,
      threads: inputs.threads ?? 'auto',
      graphOptimization: inputs.graphOptimization,
      inputs: rows
        ? { from: 'data', file: rows.file, rows: rows.rows.length }
        : { from: 'generated', dims: inputs.dims },
    },
    close: async () => {
      await candidate.opened.model.session.release();
      await baseline?.opened.model.session.release();
    },
  };
}

/** An endpoint as an Arm: closed-loop windows at a concurrency, or open-loop windows at a rate. */
function httpArm(load: HttpLoad, arrival: 'constant' | 'poisson'): Arm {
  let seed = 1;
  const window = (level: Level, ms: number) =>
    level.name === 'rate'
      ? load.openWindow(level.value, arrival, ms, { seed: seed++ })
      : load.closedWindow(level.value, ms);
  return {
    warm: async (level, ms) => {
      if (ms > 0) await window(level, ms);
    },
    window,
  };
}

async function httpTarget(
  inputs: BenchmarkInputs,
  rows: Rows | undefined,
  levels: Level[],
  logger: Logger,
): Promise<Target> {
  const withBody = inputs.method !== 'GET' && inputs.method !== 'HEAD';
  const bodies = withBody
    ? renderBodies(inputs.bodyTemplate, rows ?? { header: [], rows: [] }, {
        featureColumns: rows?.header ?? [],
        batchSize: Math.max(...inputs.batchSizes),
      })
    : [];
  if (inputs.readyUrl) {
    const ready = await logger.group(`Waiting for ${inputs.readyUrl}`, () =>
      waitReady(inputs.readyUrl!, { timeoutMs: inputs.readyTimeoutMs, headers: inputs.headers }),
    );
    logger.info(`ready after ${ready.attempts} attempt(s), ${(ready.waitedMs / 1000).toFixed(1)} s`);
  }
  const spec = (url: string) => ({
    url,
    method: inputs.method,
    headers: { 'content-type': 'application/json', ...inputs.headers },
    bodies,
    timeoutMs: inputs.requestTimeoutMs,
    expectStatus: inputs.expectStatus,
    expectBody: inputs.expectBody,
  });
  const candidate = new HttpLoad(spec(inputs.url!));
  const baseline = inputs.baselineUrl ? new HttpLoad(spec(inputs.baselineUrl)) : undefined;
  // One request first: a URL nothing answers at is a configuration error, not a measurement of errors.
  for (const [name, load] of [
    ['url', candidate],
    ['baseline-url', baseline],
  ] as const) {
    const probe = await load?.closedWindow(1, 1, 1);
    if (probe && probe.ok === 0 && probe.errors.network === probe.sent) {
      await candidate.close();
      await baseline?.close();
      throw new ConfigurationError(
        `nothing answers there (${probe.firstError ?? 'connection failed'}); check the URL and that the server is up, and set ready-url to wait for it to start`,
        `input "${name}"`,
      );
    }
  }
  return {
    kind: 'http',
    candidate: httpArm(candidate, inputs.arrival),
    baseline: baseline ? httpArm(baseline, inputs.arrival) : undefined,
    unitsPerCall: () => 1,
    details: {
      url: redactUrl(inputs.url!),
      ...(inputs.baselineUrl ? { baselineUrl: redactUrl(inputs.baselineUrl) } : {}),
      method: inputs.method,
      loop: levels[0].name === 'rate' ? { kind: 'open', arrival: inputs.arrival } : { kind: 'closed' },
      headers: Object.keys(inputs.headers),
      bodies: { count: bodies.length, example: bodies[0]?.slice(0, 500) ?? '' },
    },
    close: async () => {
      await candidate.close();
      await baseline?.close();
    },
  };
}

async function measureLevel(
  level: Level,
  target: Target,
  inputs: BenchmarkInputs,
  stored: StoredReport | undefined,
  logger: Logger,
): Promise<LevelResult> {
  const units = target.unitsPerCall(level);
  const serialize = (m: Measured) => ({ ...m, histogram: m.histogram.toJSON() });
  const options = { confidence: inputs.confidence };
  const alpha = 1 - inputs.confidence;
  const judge = (
    kind: Comparison['kind'],
    ratios: Record<string, RatioInterval>,
    pValue: number,
  ): Comparison => {
    const significant = pValue < alpha && ratios.p50_ms.low > 1;
    return {
      kind,
      ratios,
      pValue,
      significant,
      regression: pValue < alpha && ratios.p95_ms.low > 1 + inputs.regressionThreshold,
    };
  };
  let result: LevelResult;
  if (target.baseline) {
    const run = await measureInterleaved(
      target.candidate,
      target.baseline,
      level,
      inputs.settings,
      inputs.trials,
    );
    const ratios = Object.fromEntries(
      COMPARED.map((name) => [
        name,
        pairedTrialRatio(run.trials.candidate, run.trials.baseline, PERCENTILES[name], options),
      ]),
    );
    const p = mannWhitney(
      run.candidate.histogram.buckets(),
      run.baseline.histogram.buckets(),
      'greater',
    ).pValue;
    result = {
      level,
      metrics: levelMetrics(run.candidate, units),
      measured: serialize(run.candidate),
      baseline: {
        metrics: levelMetrics(run.baseline, units),
        histogram: run.baseline.histogram.toJSON(),
      },
      comparison: judge('interleaved', ratios, p),
    };
  } else {
    const m = await measure(target.candidate, level, inputs.settings);
    result = { level, metrics: levelMetrics(m, units), measured: serialize(m) };
    const before = stored?.levels.get(levelKey(level));
    if (stored && !before)
      logger.warning(`the baseline report has no level ${levelKey(level)}: not compared`);
    if (before && m.histogram.count > 0 && before.histogram.count > 0) {
      const ratios = Object.fromEntries(
        COMPARED.map((name) => [
          name,
          independentRatio(m.histogram, before.histogram, PERCENTILES[name], options),
        ]),
      );
      const p = mannWhitney(m.histogram.buckets(), before.histogram.buckets(), 'greater').pValue;
      result.baseline = { metrics: before.metrics, histogram: before.histogram.toJSON() };
      result.comparison = judge('report', ratios, p);
    }
  }
  const m = result.metrics;
  logger.info(
    `${levelKey(level)}: p50 ${fmt(m.p50_ms)} ms, p95 ${fmt(m.p95_ms)} ms, p99 ${fmt(m.p99_ms)} ms, ${fmt(m.throughput)}/s, errors ${fmt(m.error_rate)}`,
  );
  return result;
}

const fmt = (x: number | null) => (x === null ? 'n/a' : x < 10 ? x.toFixed(3) : x.toFixed(1));

interface StoredReport {
  path: string;
  levels: Map<string, { metrics: LevelMetrics; histogram: Histogram }>;
  loadMs?: number;
}

/** A previous benchmark report: its levels, each with its histogram. */
function readBaselineReport(path: string): StoredReport {
  const where = `input "baseline-report" (${path})`;
  let json: any;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigurationError(
      code ? `cannot read it (${code}); check the path` : `is not JSON: ${(e as Error).message}`,
      where,
    );
  }
  if (json?.command !== 'benchmark' || !Array.isArray(json?.details?.levels)) {
    throw new ConfigurationError(
      `is not a benchmark report (command: ${JSON.stringify(json?.command)}); give the JSON report a benchmark step wrote`,
      where,
    );
  }
  const levels = new Map<string, { metrics: LevelMetrics; histogram: Histogram }>();
  (json.details.levels as any[]).forEach((l, i) => {
    const level = l?.level as Level | undefined;
    if (!level || typeof level.name !== 'string' || typeof level.value !== 'number')
      throw new ConfigurationError(`details.levels[${i}].level is missing or malformed`, where);
    levels.set(levelKey(level), {
      metrics: l.metrics,
      histogram: Histogram.fromJSON(
        l?.measured?.histogram,
        `${where} details.levels[${i}].measured.histogram`,
      ),
    });
  });
  return {
    path,
    levels,
    loadMs: typeof json.metrics?.load_ms === 'number' ? json.metrics.load_ms : undefined,
  };
}

/** The metric that is worst across levels: the highest latency or error rate, the lowest throughput. */
function worst(
  results: LevelResult[],
  name: (typeof LEVEL_METRICS)[number],
  pick: (r: LevelResult) => LevelMetrics | undefined,
) {
  const values = results.map((r) => pick(r)?.[name]).filter((v): v is number => typeof v === 'number');
  if (values.length < results.length) return null;
  return HIGHER_IS_BETTER.has(name) ? Math.min(...values) : Math.max(...values);
}

function environment(target: Target) {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    os: `${process.platform} ${release()} ${process.arch}`,
    node: process.version,
    ...(target.kind === 'model'
      ? { onnxruntime: PINS.roots['onnxruntime-node'], provider: target.provider }
      : {}),
  };
}

function result(
  inputs: BenchmarkInputs,
  gates: Gate[],
  known: string[],
  results: LevelResult[],
  target: Target,
  stored: StoredReport | undefined,
): CommandResult {
  const metrics: Record<string, number | null> = {};
  const baselineMetrics: Record<string, number | null> = {};
  const intervals: Record<string, [number, number]> = {};
  const hasBaseline = results.some((r) => r.baseline);
  for (const name of LEVEL_METRICS) {
    metrics[name] = worst(results, name, (r) => r.metrics);
    if (hasBaseline) baselineMetrics[name] = worst(results, name, (r) => r.baseline?.metrics);
  }
  for (const r of results) {
    for (const name of LEVEL_METRICS) {
      metrics[`${name}(${r.level.value})`] = r.metrics[name];
      if (r.baseline) baselineMetrics[`${name}(${r.level.value})`] = r.baseline.metrics[name] ?? null;
    }
    for (const name of COMPARED) {
      const ratio = r.comparison?.ratios[name];
      const base = r.baseline?.metrics[name];
      if (ratio && typeof base === 'number')
        intervals[`${name}(${r.level.value})`] = [base * ratio.low, base * ratio.high];
    }
  }
  if (target.loadMs !== undefined) {
    metrics.load_ms = target.loadMs;
    if (stored?.loadMs !== undefined) baselineMetrics.load_ms = stored.loadMs;
  }

  // A bare latency gate holds at every level: it is judged once per level, as a slice gate is per slice.
  const perLevel = new Set<string>(LEVEL_METRICS);
  const slices: SliceMetrics[] = results.map((r) => ({
    scope: `level:${levelKey(r.level)}`,
    metrics: r.metrics,
    baseline: r.baseline?.metrics,
    eligible: true,
    intervals: Object.fromEntries(
      COMPARED.flatMap((name) => {
        const i = intervals[`${name}(${r.level.value})`];
        return i ? [[name, i]] : [];
      }),
    ),
  }));
  const gateResults = evaluateGates(
    gates.map((g) => (perLevel.has(g.metric) ? { ...g, perSlice: true } : g)),
    { metrics, baseline: hasBaseline || stored ? baselineMetrics : undefined, slices, known, intervals },
  );
  const regression = results.some((r) => r.comparison?.regression);
  const report = buildReport({
    command: 'benchmark',
    gates: gateResults,
    metrics,
    warnings: warnings(results, target),
    details: {
      target: { kind: target.kind, ...target.details },
      levels: results,
      settings: {
        ...inputs.settings,
        trials: inputs.trials,
        confidence: inputs.confidence,
        regressionThreshold: inputs.regressionThreshold,
      },
      ...(stored ? { baselineReport: stored.path } : {}),
      regression,
      environment: environment(target),
    },
  });
  return {
    report,
    markdown: renderBenchmark(report),
    terminal: results.map(
      (r) =>
        `  ${levelKey(r.level)}: p50 ${fmt(r.metrics.p50_ms)} ms  p95 ${fmt(r.metrics.p95_ms)} ms  p99 ${fmt(r.metrics.p99_ms)} ms  ${fmt(r.metrics.throughput)}/s${r.comparison ? `  p95 x${r.comparison.ratios.p95_ms.estimate.toFixed(3)} [${r.comparison.ratios.p95_ms.low.toFixed(3)}, ${r.comparison.ratios.p95_ms.high.toFixed(3)}]` : ''}`,
    ),
    outputs: {
      metrics: JSON.stringify(metrics),
      'p50-ms': String(metrics.p50_ms ?? ''),
      'p95-ms': String(metrics.p95_ms ?? ''),
      'p99-ms': String(metrics.p99_ms ?? ''),
      throughput: String(metrics.throughput ?? ''),
      'error-rate': String(metrics.error_rate ?? ''),
      provider: target.provider ?? '',
      regression: String(regression),
    },
  };
}

function warnings(results: LevelResult[], target: Target): string[] {
  const out: string[] = [];
  for (const r of results) {
    const key = levelKey(r.level);
    if (r.measured.ok === 0)
      out.push(
        `${key}: no call succeeded (${r.measured.sent} sent${r.measured.firstError ? `; first error: ${r.measured.firstError}` : ''}); latency cannot be measured`,
      );
    else if (r.measured.firstError)
      out.push(
        `${key}: ${r.measured.sent - r.measured.ok} call(s) failed; first error: ${r.measured.firstError}`,
      );
    if (r.measured.stable === false)
      out.push(`${key}: not stable within the window cap: the last windows' medians still differ`);
  }
  const provider = (target.details.provider as { fallbackReason?: string } | undefined)?.fallbackReason;
  if (provider) out.push(`measured on the CPU: the CUDA provider is not available (${provider})`);
  return out;
}
