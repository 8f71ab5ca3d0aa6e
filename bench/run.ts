/**
 * npm run bench: validate-model on a 1,000,000-row x 20-feature CSV with a 100-tree depth-8 forest,
 * each figure printed next to the reference issue #2 names:
 *   (a) pandas + joblib + scikit-learn doing the same evaluation (bench/sklearn_eval.py);
 *   (b) the floor: onnxruntime alone on a preloaded Float32Array, plus reading the file.
 * Needs /usr/bin/python3 with scikit-learn, pandas, onnx (Debian: python3-sklearn python3-pandas
 * python3-onnx) to make the data and run reference (a). `npm run bench -- --rows 200000` for a quick run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import * as ort from 'onnxruntime-node';
import { Engine } from '../src/data/engine.js';
import { formatOf } from '../src/data/files.js';
import { MemoryLogger } from '../src/logging.js';

const PYTHON = '/usr/bin/python3';
const args = process.argv.slice(2);
const rows = Number(args[args.indexOf('--rows') + 1] || 1_000_000) || 1_000_000;
const dir = resolve('bench', 'data', String(rows));
const csv = join(dir, 'data.csv');
const onnxModel = join(dir, 'model.onnx');

function ensureData() {
  if (existsSync(csv) && existsSync(onnxModel)) return;
  mkdirSync(dir, { recursive: true });
  console.log(`making ${rows.toLocaleString('en-US')} rows and the forest in ${dir} ...`);
  execFileSync(PYTHON, ['bench/make_bench_model.py', '--rows', String(rows), '--out', dir], {
    stdio: 'inherit',
  });
}

/** The first n data rows of the CSV, for the memory-growth check. */
async function head(n: number): Promise<string> {
  const out = join(dir, `head-${n}.csv`);
  if (existsSync(out)) return out;
  const w = createWriteStream(out);
  let i = 0;
  for await (const line of createInterface({ input: createReadStream(csv) })) {
    if (i++ > n) break;
    w.write(`${line}\n`);
  }
  await new Promise((r) => w.end(r));
  return out;
}

function mlgate(data: string) {
  const report = join(dir, 'report.json');
  const started = performance.now();
  const run = spawnSync(
    process.execPath,
    [
      'cli/dist/index.js',
      'validate-model',
      '--model',
      onnxModel,
      '--data',
      data,
      '--label-column',
      'label',
      '--gates',
      'accuracy >= 0.5',
      '--report-path',
      report,
    ],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`mlgate failed: ${run.stderr}`);
  const wall = (performance.now() - started) / 1000;
  const r = JSON.parse(readFileSync(report, 'utf8'));
  return {
    wall,
    seconds: r.details.performance.seconds as number,
    rssMb: r.details.performance.peakRssMb as number,
    accuracy: r.metrics.accuracy as number,
    batch: r.details.performance.batchSize as number,
  };
}

function sklearn() {
  const out = execFileSync(PYTHON, ['bench/sklearn_eval.py', csv, join(dir, 'model.joblib'), 'label'], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!) as {
    seconds: number;
    accuracy: number;
    peak_rss_mb: number;
  };
}

/** Floor (b): the file read into one Float32Array (timed apart), then onnxruntime alone over it. */
async function floor(batch: number) {
  const engine = await Engine.open(new MemoryLogger());
  const file = { path: csv, ...formatOf(csv) };
  const header = await engine.columns(file);
  const features = header.filter((c) => c !== 'label');
  const x = new Float32Array(rows * features.length);
  const readStart = performance.now();
  let at = 0;
  for await (const chunk of engine.stream(
    file,
    header,
    features.map((name) => ({ name, as: 'float32' as const })),
  )) {
    chunk.columns.forEach((col, j) => {
      const data = col.data as Float32Array;
      for (let i = 0; i < chunk.rows; i++) x[(at + i) * features.length + j] = data[i];
    });
    at += chunk.rows;
  }
  const read = (performance.now() - readStart) / 1000;
  engine.close();
  const session = await ort.InferenceSession.create(onnxModel, {
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const f = features.length;
  const inferStart = performance.now();
  for (let o = 0; o < rows; o += batch) {
    const n = Math.min(batch, rows - o);
    await session.run({ input: new ort.Tensor('float32', x.subarray(o * f, (o + n) * f), [n, f]) }, [
      'output_label',
    ]);
  }
  return { read, infer: (performance.now() - inferStart) / 1000 };
}

const fmt = (x: number, d = 2) => x.toFixed(d);

ensureData();
if (!existsSync('cli/dist/index.js')) execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
console.log(
  `\nvalidate-model benchmark: ${rows.toLocaleString('en-US')} rows x 20 features, RandomForest 100 trees depth 8 (ZipMap), ${process.platform}-${process.arch}, ${(await import('node:os')).cpus().length} cores\n`,
);
// Median of three: a shared 2-core machine is noisy.
const runs = [mlgate(csv), mlgate(csv), mlgate(csv)].sort((x, y) => x.seconds - y.seconds);
const ours = runs[1];
const ref = sklearn();
const b = await floor(ours.batch);
const growth = [];
for (const n of [Math.floor(rows / 4), Math.floor(rows / 2)]) growth.push({ n, ...mlgate(await head(n)) });
growth.push({ n: rows, ...ours });

const lines = [
  ['figure', 'mlgate', 'reference', 'ratio', 'target'],
  [
    'end-to-end seconds (in process)',
    fmt(ours.seconds),
    `(a) sklearn ${fmt(ref.seconds)}`,
    `${fmt(ref.seconds / ours.seconds)}x faster`,
    '>= 2x faster',
  ],
  [
    'rows/s',
    Math.round(rows / ours.seconds).toLocaleString('en-US'),
    `(a) ${Math.round(rows / ref.seconds).toLocaleString('en-US')}`,
    '',
    '',
  ],
  [
    'end-to-end seconds vs floor',
    fmt(ours.seconds),
    `(b) ort ${fmt(b.infer)} + read ${fmt(b.read)} = ${fmt(b.infer + b.read)}`,
    `${fmt(ours.seconds / (b.infer + b.read))}x`,
    '<= 1.5x',
  ],
  ['wall seconds incl. process start', fmt(ours.wall), '', '', ''],
  ['peak RSS MB', fmt(ours.rssMb, 0), `(a) ${fmt(ref.peak_rss_mb, 0)}`, '', '< 1024'],
  [
    'accuracy',
    fmt(ours.accuracy, 6),
    `(a) ${fmt(ref.accuracy, 6)}`,
    ours.accuracy === ref.accuracy ? 'equal' : 'DIFFERENT',
    'equal',
  ],
];
const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
for (const l of lines) console.log(l.map((c, i) => String(c).padEnd(widths[i])).join('  '));
console.log(
  `\npeak RSS by rows (bounded growth: streaming, no whole file in memory): ${growth.map((g) => `${g.n.toLocaleString('en-US')} rows ${fmt(g.rssMb, 0)} MB`).join(', ')}`,
);
