import { benchmark } from '../commands/benchmark.js';
import { runAction } from '../runtime/github.js';

await runAction(benchmark);
