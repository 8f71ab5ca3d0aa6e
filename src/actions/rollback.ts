import { rollback } from '../commands/rollback.js';
import { runAction } from '../runtime/github.js';

await runAction(rollback);
