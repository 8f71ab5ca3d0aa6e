import { validateModel } from '../commands/validate-model.js';
import { runAction } from '../runtime/github.js';

await runAction(validateModel);
