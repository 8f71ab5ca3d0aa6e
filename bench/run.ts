/**
 * npm run bench: every benchmark, each figure printed next to the reference its issue names.
 * Needs /usr/bin/python3 with scikit-learn, pandas, SciPy and onnx (Debian: python3-sklearn
 * python3-pandas python3-scipy python3-onnx) to make the data and run the references; data is
 * generated once into bench/data/ (git-ignored).
 *
 *   npm run bench                          all of them
 *   npm run bench -- model --rows 200000   one, smaller (model, data, benchmark)
 */
import { cpus } from 'node:os';
import { benchBenchmark } from './benchmark.js';
import { argValue, ensureBuilt } from './common.js';
import { benchValidateData } from './validate-data.js';
import { benchValidateModel } from './validate-model.js';

const only = process.argv.slice(2).find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
ensureBuilt();
console.log(
  `mlgate benchmarks on ${process.platform}-${process.arch}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`,
);
if (!only || only === 'model') await benchValidateModel(argValue('--rows', 1_000_000));
if (!only || only === 'data')
  await benchValidateData(argValue('--rows', 1_000_000), argValue('--data-rows-large', 10_000_000));
if (!only || only === 'benchmark') await benchBenchmark();
