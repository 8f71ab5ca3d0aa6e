import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseCanaryConfig } from '../src/canary/config.js';

const dir = 'workflows-examples';
const ACTION_REF = /^(?:\.\/actions\/|[\w.-]+\/mlgate\/actions\/)([\w-]+)(?:@[\w.-]+)?$/;

describe('workflows-examples', () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yml'))) {
    it(`${file}: every mlgate step names an action of this repository with inputs its action.yml declares`, () => {
      const workflow = parse(readFileSync(join(dir, file), 'utf8'));
      const steps = Object.values<any>(workflow.jobs).flatMap((job) => job.steps ?? []);
      const ours = steps.filter((s) => typeof s.uses === 'string' && ACTION_REF.test(s.uses));
      expect(ours.length).toBeGreaterThan(0);
      for (const step of ours) {
        const action = ACTION_REF.exec(step.uses)![1];
        const spec = parse(readFileSync(join('actions', action, 'action.yml'), 'utf8'));
        const declared = Object.keys(spec.inputs);
        for (const input of Object.keys(step.with ?? {}))
          expect(declared, `${file}: ${action} has no input "${input}"`).toContain(input);
        for (const [name, input] of Object.entries<any>(spec.inputs)) {
          if (input.required) expect(step.with, `${file}: ${action} needs "${name}"`).toHaveProperty(name);
        }
        // An inline config must be one the action accepts.
        if (action === 'canary-gate')
          expect(parseCanaryConfig(step.with.metrics, file).metrics.length).toBeGreaterThan(0);
      }
    });
  }
});
