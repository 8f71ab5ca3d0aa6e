import { validateData } from '../commands/validate-data.js';
import { runAction } from '../runtime/github.js';

await runAction(validateData);
