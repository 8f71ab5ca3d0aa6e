import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export interface InputSpec {
  description: string;
  required?: boolean;
  default?: string;
}

export interface ActionSpec {
  name: string;
  description: string;
  inputs: Record<string, InputSpec>;
  outputs: Record<string, { description: string }>;
  runs: { using: string; main: string };
}

/**
 * action.yml is the single source of truth for inputs and outputs: the runner applies its
 * defaults, and the CLI reads the same file for its flags, defaults and help. The bundle sits in
 * actions/<name>/dist/ and the sources in src/runtime/ (or the CLI bundle in cli/dist/), so both
 * layouts are tried.
 */
export function actionSpecPath(command: string, from = import.meta.url): string {
  const here = dirname(fileURLToPath(from));
  const candidates = [
    join(here, '..', 'action.yml'),
    join(here, '..', '..', 'actions', command, 'action.yml'),
  ];
  const found = candidates.find((p) => existsSync(p) && isActionOf(p, command));
  if (!found) throw new Error(`action.yml for ${command} not found (looked in ${candidates.join(', ')})`);
  return found;
}

function isActionOf(path: string, command: string): boolean {
  return parse(readFileSync(path, 'utf8'))?.name === `mlgate ${command}`;
}

const cache = new Map<string, ActionSpec>();

export function loadActionSpec(command: string): ActionSpec {
  let spec = cache.get(command);
  if (!spec) {
    spec = parse(readFileSync(actionSpecPath(command), 'utf8')) as ActionSpec;
    spec.inputs ??= {};
    spec.outputs ??= {};
    cache.set(command, spec);
  }
  return spec;
}
