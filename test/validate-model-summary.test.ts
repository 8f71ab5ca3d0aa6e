import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, runValidateModel } from './support/validate-model.js';

const example = (f: string) => join(EXAMPLES, f);

describe('the validate-model job summary', () => {
  it('explains a regression against the baseline: which metrics got significantly worse, in their own direction', async () => {
    // The weaker model as the candidate: accuracy falls and log loss rises, both significantly.
    const run = await runValidateModel({
      model: example('baseline.onnx'),
      'baseline-model': example('model.onnx'),
      data: example('test.csv'),
      'label-column': 'churned',
      'slice-columns': 'region',
      gates: 'accuracy >= baseline - 0.01',
    });
    expect(run.outcome.exitCode).toBe(1);
    const markdown = run.outcome.result!.markdown;
    expect(markdown).toMatch(/### ❌ mlgate validate-model: failed \(1 of 1 gate failed\)/);
    expect(markdown).toMatch(
      /\| `accuracy` \| 0\.849 \| 0\.8744 \| -0\.0254 \| \[-[\d.]+, -[\d.]+\] \| significantly worse \|/,
    );
    expect(markdown).toMatch(
      /\| `log_loss` \| 0\.371 \| 0\.3179 \| \+0\.0531 \| .* \| significantly worse \|/,
    );
    expect(markdown).toContain(
      "McNemar's exact test: 75 rows only the model got right, 202 only the baseline",
    );
    expect(markdown).toContain('| `region=latam` | 46 |');
    expect(markdown).toContain('Confusion matrix');
  });
});
