/**
 * npm run demo: the main job on the shipped example, through the same code as the action. The
 * candidate model (examples/model.onnx) is validated on examples/test.csv against the baseline
 * (examples/baseline.onnx), per region, with the gates a team would put in its PR workflow.
 */
import { resolve } from 'node:path';
import { validateModel } from '../src/commands/validate-model.js';
import { runTerminal } from '../src/runtime/terminal.js';

const example = (file: string) => resolve('examples', file);
const gates = [
  'accuracy >= 0.85',
  'roc_auc >= baseline - 0.005',
  'f1_macro >= baseline',
  'slice.accuracy >= 0.8',
];

console.log(
  'mlgate demo: validate-model on the shipped example (5,000 rows, a baseline model, slices by region)\n',
);
process.exitCode = await runTerminal(validateModel, [
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
  ...gates.flatMap((g) => ['--gates', g]),
  ...['--report-path', resolve('mlgate-report', 'validate-model.json')],
]);
console.log(
  '\nThe job summary the action would post is rendered from the same report; run the action under act, or',
);
console.log('npx mlgate validate-model --help for every input.');
