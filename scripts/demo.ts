/**
 * npm run demo: the pull-request gates on the shipped examples, through the same code as the actions.
 *  1. validate-model: the candidate model (examples/model.onnx) on examples/test.csv against the
 *     baseline (examples/baseline.onnx), per region — passes.
 *  2. validate-data: this week's data (examples/data/current.csv) against its contract and the
 *     training snapshot — fails, on purpose: the data has planted problems the report points at.
 *  3. benchmark: the example model server (examples/server) started on loopback, load-tested at two
 *     concurrencies with bodies from examples/test.csv, gated on p95 and the error rate.
 */
import { resolve } from 'node:path';
import { startServer } from '../examples/server/server.js';
import { benchmark } from '../src/commands/benchmark.js';
import { validateData } from '../src/commands/validate-data.js';
import { validateModel } from '../src/commands/validate-model.js';
import { runTerminal } from '../src/runtime/terminal.js';

const example = (...path: string[]) => resolve('examples', ...path);
const report = (name: string) => ['--report-path', resolve('mlgate-report', `${name}.json`)];

console.log(
  'mlgate demo 1/3: validate-model on the shipped example (5,000 rows, a baseline model, slices by region)\n',
);
const model = await runTerminal(validateModel, [
  ...['--model', example('model.onnx'), '--baseline-model', example('baseline.onnx')],
  ...[
    '--data',
    example('test.csv'),
    '--label-column',
    'churned',
    '--slice-columns',
    'region',
    '--min-slice-size',
    '50',
  ],
  ...[
    'accuracy >= 0.85',
    'roc_auc >= baseline - 0.005',
    'f1_macro >= baseline',
    'slice.accuracy >= 0.8',
  ].flatMap((g) => ['--gates', g]),
  ...report('validate-model'),
]);

console.log(
  "\nmlgate demo 2/3: validate-data on this week's data, against its schema and the training snapshot",
);
console.log('(expected to fail: current.csv has planted problems, see examples/data/generate.py)\n');
await runTerminal(validateData, [
  ...['--data', example('data', 'current.csv'), '--reference', example('data', 'reference.csv')],
  ...['--schema', example('data', 'schema.yml')],
  ...report('validate-data'),
]);

console.log(
  '\nmlgate demo 3/3: benchmark of the example model server on loopback (closed loop, 1 and 8 clients)\n',
);
const server = await startServer({ model: example('model.onnx'), port: 0 });
const features = [
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
let latency: number;
try {
  latency = await runTerminal(benchmark, [
    ...['--url', `${server.url}/predict`, '--ready-url', `${server.url}/ready`],
    ...['--data', example('test.csv'), '--feature-columns', features.join(',')],
    ...['--concurrency', '1,8', '--min-duration', '3s'],
    ...['p95_ms <= 250', 'error_rate <= 0.001'].flatMap((g) => ['--gates', g]),
    ...report('benchmark'),
  ]);
} finally {
  await server.close();
}

console.log('\nEach summary (.md) is what the action posts as its job summary and PR comment.');
console.log('npx mlgate <command> --help lists every input.');
process.exitCode = model || latency;
