import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../errors.js';
import { type Gate, parseGates } from './parse.js';

/** The `gates` input (inline, one per line) followed by the gates of the `gates-file` input, if any. */
export function loadGates(inline: string, file?: string): Gate[] {
  const gates = parseGates(inline, 'gates');
  if (!file) return gates;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigurationError(
      `cannot read ${file} (${(e as NodeJS.ErrnoException).code})`,
      'input "gates-file"',
    );
  }
  return [...gates, ...parseGates(text, file)];
}
