import type { Command } from '../runtime/command.js';
import { benchmark } from './benchmark.js';
import { canaryGate } from './canary-gate.js';
import { rollback } from './rollback.js';
import { scanImage } from './scan-image.js';
import { validateData } from './validate-data.js';
import { validateModel } from './validate-model.js';

/** Every command the CLI knows; each also has an action under actions/<name>/. */
export const commands: Command<any>[] = [
  validateModel,
  validateData,
  benchmark,
  scanImage,
  canaryGate,
  rollback,
];
