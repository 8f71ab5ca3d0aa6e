import { scanImage } from '../commands/scan-image.js';
import { runAction } from '../runtime/github.js';

await runAction(scanImage);
