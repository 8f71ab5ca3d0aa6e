/**
 * validate-model on a 1,000,000-row x 20-feature CSV with a 100-tree depth-8 forest, against
 *   (a) pandas + joblib + scikit-learn doing the same evaluation (bench/sklearn_eval.py);
 *   (b) the floor: onnxruntime alone on a preloaded Float32Array, plus reading the file.
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import * as ort from 'onnxruntime-node';
import { Engine } from '../src/data/engine.js';
import { formatOf } from '../src/data/files.js';
import { MemoryLogger } from '../src/logging.js';
import { ensureGenerated, fmt, median3, mlgate, printTable, python } from './common.js';

export async function benchValidateModel(rows: number) {
  const dir = resolve('bench', 'data', String(rows));
  const csv = join(dir, 'data.csv');
  const model = join(dir, 'model.onnx');
  ensureGenerated(dir, ['data.csv', 'model.onnx', 'model.joblib'], 'bench/make_bench_model.py', [
    '--rows',
    String(rows),
  ]);

  const run = (data: string) => {
    const { wall, report } = mlgate(
      'validate-model',
      ['--model', model, '--data', data, '--label-column', 'label', '--gates', 'accuracy >= 0.5'],
      join(dir, 'report.json'),
    );
    const p = report.details.performance;
    return {
      wall,
      seconds: p.seconds as number,
      predict: p.predictSeconds as number,
      metrics: p.metricsSeconds as number,
      inference: p.inferenceSeconds[0] as number,
      rssMb: p.peakRssMb as number,
      accuracy: report.metrics.accuracy as number,
      batch: p.batchSize as number,
    };
  };

  console.log(
    `\nvalidate-model: ${rows.toLocaleString('en-US')} rows x 20 features, RandomForest 100 trees depth 8 (ZipMap)\n`,
  );
  const { median: ours, all } = median3(() => run(csv));
  const ref = python<{ seconds: number; accuracy: number; peak_rss_mb: number }>('bench/sklearn_eval.py', [
    csv,
    join(dir, 'model.joblib'),
    'label',
  ]);
  const b = await floor(csv, model, rows, ours.batch);
  const growth = [];
  for (const n of [Math.floor(rows / 4), Math.floor(rows / 2)])
    growth.push({ n, ...run(await head(csv, n)) });
  growth.push({ n: rows, ...ours });

  printTable([
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
  ]);
  console.log(
    `\nmlgate runs (s): ${all.map((r) => fmt(r.seconds)).join(', ')}; median run: predict ${fmt(ours.predict)} (onnxruntime ${fmt(ours.inference)}), metrics ${fmt(ours.metrics)}`,
  );
  console.log(
    `peak RSS by rows (streaming; per-row state is labels and scores): ${growth.map((g) => `${g.n.toLocaleString('en-US')} rows ${fmt(g.rssMb, 0)} MB`).join(', ')}`,
  );
}

/** The first n data rows of the CSV, for the memory-growth check. */
async function head(csv: string, n: number): Promise<string> {
  const out = csv.replace(/\.csv$/, `-head-${n}.csv`);
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

/** Floor (b): the file read into one Float32Array (timed apart), then onnxruntime alone over it. */
async function floor(csv: string, model: string, rows: number, batch: number) {
  const engine = await Engine.open(new MemoryLogger());
  const file = { path: csv, ...formatOf(csv) };
  const header = await engine.columns(file);
  const features = header.filter((c) => c !== 'label');
  const f = features.length;
  const x = new Float32Array(rows * f);
  const readStart = performance.now();
  let at = 0;
  for await (const chunk of engine.stream(
    file,
    header,
    features.map((name) => ({ name, as: 'float32' as const })),
  )) {
    chunk.columns.forEach((col, j) => {
      const data = col.data as Float32Array;
      for (let i = 0; i < chunk.rows; i++) x[(at + i) * f + j] = data[i];
    });
    at += chunk.rows;
  }
  const read = (performance.now() - readStart) / 1000;
  engine.close();
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const inferStart = performance.now();
  for (let o = 0; o < rows; o += batch) {
    const n = Math.min(batch, rows - o);
    await session.run({ input: new ort.Tensor('float32', x.subarray(o * f, (o + n) * f), [n, f]) }, [
      'output_label',
    ]);
  }
  return { read, infer: (performance.now() - inferStart) / 1000 };
}
