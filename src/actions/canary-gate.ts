import { canaryGate } from '../commands/canary-gate.js';
import { runAction } from '../runtime/github.js';

await runAction(canaryGate);
