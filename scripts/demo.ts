/**
 * npm run demo: a release on the shipped examples, through the same code as the actions.
 *  1. validate-model: the candidate model (examples/model.onnx) on examples/test.csv against the
 *     baseline (examples/baseline.onnx), per region — passes.
 *  2. validate-data: this week's data (examples/data/current.csv) against its contract and the
 *     training snapshot — fails, on purpose: the data has planted problems the report points at.
 *  3. benchmark: the example model server (examples/server) started on loopback, load-tested at two
 *     concurrencies with bodies from examples/test.csv, gated on p95 and the error rate.
 *  4. scan-image: the model files (both ONNX models and a pickle from the test fixtures that runs
 *     os.system when loaded), read and never loaded — fails, on purpose, on the pickle. The image part
 *     needs Trivy or Grype, which the action installs on a runner; the demo scans files only.
 *  5. canary-gate: the candidate as a canary beside the baseline as stable, with a serving fault
 *     injected (10% HTTP 500, +30 ms), both scraped by a real Prometheus — says rollback, as it should.
 *  6. rollback: the webhook target posts a signed event to a local receiver, which checks the signature.
 * Parts 5 and 6 need the prometheus binary (Debian/Ubuntu: apt-get install prometheus) and are skipped
 * without it; see scripts/demo-canary.ts.
 *
 * The exit code is 0 when every step behaved as this story says, expected failures included, 1 otherwise.
 */
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { startServer } from '../examples/server/server.js';
import { benchmark } from '../src/commands/benchmark.js';
import { scanImage } from '../src/commands/scan-image.js';
import { validateData } from '../src/commands/validate-data.js';
import { validateModel } from '../src/commands/validate-model.js';
import { ExitCode } from '../src/errors.js';
import { runTerminal } from '../src/runtime/terminal.js';
import { canaryScenarioAvailable, FEATURES, runCanaryScenario } from './demo-canary.js';

// Exiting runs the 'exit' hooks that stop Prometheus and remove its data directory.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const STEPS = 6;
const example = (...path: string[]) => resolve('examples', ...path);
const reportDir = resolve('mlgate-report');
const report = (name: string) => ['--report-path', resolve(reportDir, `${name}.json`)];
const heading = (step: number, title: string) => console.log(`\nmlgate demo ${step}/${STEPS}: ${title}\n`);
/** What did not go as the story says; the demo fails when there is any. */
const surprises: string[] = [];
const expectExit = (step: string, exitCode: ExitCode, expected: ExitCode) => {
  if (exitCode !== expected) surprises.push(`${step} exited ${exitCode} (expected ${expected})`);
};

heading(1, 'validate-model on the shipped example (5,000 rows, a baseline model, slices by region)');
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
expectExit('validate-model', model, ExitCode.Passed);

heading(2, "validate-data on this week's data, against its schema and the training snapshot");
console.log('(expected to fail: current.csv has planted problems, see examples/data/generate.py)\n');
const data = await runTerminal(validateData, [
  ...['--data', example('data', 'current.csv'), '--reference', example('data', 'reference.csv')],
  ...['--schema', example('data', 'schema.yml')],
  ...report('validate-data'),
]);
expectExit('validate-data', data, ExitCode.GateFailed);

heading(3, 'benchmark of the example model server on loopback (closed loop, 1 and 8 clients)');
const server = await startServer({ model: example('model.onnx'), port: 0 });
try {
  const latency = await runTerminal(benchmark, [
    ...['--url', `${server.url}/predict`, '--ready-url', `${server.url}/ready`],
    ...['--data', example('test.csv'), '--feature-columns', FEATURES.join(',')],
    ...['--concurrency', '1,8', '--min-duration', '3s'],
    ...['p95_ms <= 250', 'error_rate <= 0.001'].flatMap((g) => ['--gates', g]),
    ...report('benchmark'),
  ]);
  expectExit('benchmark', latency, ExitCode.Passed);
} finally {
  await server.close();
}

heading(4, 'scan-image on the model files: ONNX models and a pickle, read and never loaded');
console.log(
  '(expected to fail: os_system.pkl runs os.system when unpickled, see scripts/fixtures/make_model_files.py)\n',
);
const scan = await runTerminal(scanImage, [
  ...[
    '--model-files',
    [
      example('model.onnx'),
      example('baseline.onnx'),
      resolve('test/fixtures/model-files/os_system.pkl'),
    ].join('\n'),
  ],
  ...['--sarif-path', resolve(reportDir, 'scan-image.sarif')],
  ...report('scan-image'),
]);
expectExit('scan-image', scan, ExitCode.GateFailed);

const names = ['validate-model', 'validate-data', 'benchmark', 'scan-image'];
if (canaryScenarioAvailable) {
  let step = 5;
  try {
    const canary = await runCanaryScenario({
      reportDir,
      heading: (title) => heading(step++, title),
    });
    surprises.push(...canary.problems);
    names.push('canary-gate', ...(canary.rollbackExitCode === undefined ? [] : ['rollback']));
  } catch (e) {
    surprises.push(`the canary scenario stopped: ${(e as Error).message}`);
  }
} else {
  console.log(
    '\nmlgate demo 5-6/6 skipped: the canary scenario needs the prometheus binary (apt-get install prometheus), none found on PATH',
  );
}

console.log('\nReports (JSON for the next step to read; markdown as the job summary and PR comment):');
for (const name of names) {
  const json = resolve(reportDir, `${name}.json`);
  if (existsSync(json))
    console.log(`  ${relative('.', json)}  ${relative('.', json.replace(/\.json$/, '.md'))}`);
}
console.log('npx mlgate <command> --help lists every input.');
if (surprises.length > 0) {
  console.log('\nThe demo did not go as expected:');
  for (const s of surprises) console.log(`  ${s}`);
  process.exitCode = 1;
}
