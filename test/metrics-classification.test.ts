import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ClassificationInput, classificationMetrics } from '../src/metrics/index.js';

// Reference values from scikit-learn 1.2.1: scripts/fixtures/metrics_reference.py.
interface Case {
  name: string;
  classes: string[];
  yTrue: number[];
  yPred: number[];
  proba?: number[];
  probaDtype?: 'float32' | 'float64';
  scoreClasses?: number;
  positiveIndex?: number;
  expected: {
    metrics: Record<string, number | null>;
    perClass: { label: string; precision: number; recall: number; f1: number; support: number }[];
    confusionMatrix: { labels: string[]; matrix: number[][] };
  };
}
const fixture: { cases: Case[] } = JSON.parse(
  readFileSync(new URL('fixtures/metrics/classification.json', import.meta.url), 'utf8'),
);

function toInput(c: Case): ClassificationInput {
  return {
    classes: c.classes,
    yTrue: Int32Array.from(c.yTrue),
    yPred: Int32Array.from(c.yPred),
    proba: c.proba && (c.probaDtype === 'float32' ? Float32Array.from(c.proba) : Float64Array.from(c.proba)),
    scoreClasses: c.scoreClasses,
    positiveIndex: c.positiveIndex,
  };
}

/** 1e-9 absolute or relative, whichever is looser. */
function expectClose(actual: number | null | undefined, expected: number | null, what: string) {
  if (expected === null) {
    expect(actual, what).toBeNull();
    return;
  }
  expect(actual, what).toBeTypeOf('number');
  const tolerance = 1e-9 * Math.max(1, Math.abs(expected));
  expect(Math.abs((actual as number) - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(
    tolerance,
  );
}

describe('classificationMetrics matches scikit-learn', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const result = classificationMetrics(toInput(c));
    expect(Object.keys(result.metrics).sort()).toEqual(Object.keys(c.expected.metrics).sort());
    for (const [name, expected] of Object.entries(c.expected.metrics)) {
      expectClose(result.metrics[name], expected, name);
      if (expected === null)
        expect(
          result.notes.some((n) => n.includes(name.split('.')[0])),
          name,
        ).toBe(true);
    }
    expect(result.perClass.map((p) => [p.label, p.support])).toEqual(
      c.expected.perClass.map((p) => [p.label, p.support]),
    );
    result.perClass.forEach((p, i) => {
      const e = c.expected.perClass[i];
      expectClose(p.precision, e.precision, `precision of ${p.label}`);
      expectClose(p.recall, e.recall, `recall of ${p.label}`);
      expectClose(p.f1, e.f1, `f1 of ${p.label}`);
    });
    expect(result.confusionMatrix).toEqual(c.expected.confusionMatrix);
  });
});

describe('classificationMetrics explains what it could not compute', () => {
  const byName = (name: string) => toInput(fixture.cases.find((c) => c.name === name)!);

  it('warns about zero division the way sklearn does', () => {
    const { notes } = classificationMetrics(byName('multiclass, class never predicted'));
    expect(notes.join('\n')).toMatch(/Precision is ill-defined .*\(c\)/);
    const absent = classificationMetrics(byName('multiclass, predicted class absent from y_true'));
    expect(absent.notes.join('\n')).toMatch(/Recall is ill-defined .*\(c\).*balanced_accuracy/);
  });

  it('gives null, not NaN, for ROC AUC with one class, and says why', () => {
    const { metrics, notes } = classificationMetrics(byName('binary, only the positive class in y_true'));
    expect(metrics.roc_auc).toBeNull();
    expect(notes).toContain('roc_auc is undefined: y_true holds only one class.');
  });

  it('refuses score metrics for labels the model does not know, but counts them for the rest', () => {
    const { metrics, notes, confusionMatrix } = classificationMetrics(
      byName('label unknown to the model (scoreClasses 2 of 3)'),
    );
    expect([metrics.roc_auc, metrics.pr_auc, metrics.log_loss]).toEqual([null, null, null]);
    expect(notes.join('\n')).toContain('y_true holds labels the model cannot score (new)');
    expect(confusionMatrix.labels).toEqual(['a', 'b', 'new']);
  });

  it('returns nulls and a note for no rows', () => {
    const empty = new Int32Array(0);
    const { metrics, notes, perClass } = classificationMetrics({
      classes: ['a', 'b'],
      yTrue: empty,
      yPred: empty,
      proba: new Float64Array(0),
    });
    expect(Object.values(metrics).every((v) => v === null)).toBe(true);
    expect(notes).toContain('There are no rows: no metric can be computed.');
    expect(perClass).toEqual([]);
  });

  it('treats NaN probabilities as a model fault, not a crash', () => {
    const { metrics, notes } = classificationMetrics({
      classes: ['a', 'b'],
      yTrue: Int32Array.of(0, 1),
      yPred: Int32Array.of(0, 1),
      proba: Float64Array.of(0.9, 0.1, Number.NaN, Number.NaN),
    });
    expect(metrics.roc_auc).toBeNull();
    expect(metrics.accuracy).toBe(1);
    expect(notes.join('\n')).toContain('NaN');
  });

  it('rejects class ids outside classes and mismatched lengths', () => {
    const yTrue = Int32Array.of(0, 2);
    expect(() => classificationMetrics({ classes: ['a', 'b'], yTrue, yPred: Int32Array.of(0, 1) })).toThrow(
      RangeError,
    );
    expect(() =>
      classificationMetrics({ classes: ['a', 'b'], yTrue: Int32Array.of(0), yPred: Int32Array.of(0, 1) }),
    ).toThrow(RangeError);
  });
});

describe('classificationMetrics ranks scores the way sklearn does', () => {
  it('treats -0 and +0 as one tied score', () => {
    const input = (zero: number) => ({
      classes: ['a', 'b'],
      yTrue: Int32Array.of(0, 1, 1, 0),
      yPred: Int32Array.of(0, 1, 1, 0),
      proba: Float64Array.of(1, zero, 1, 0, 0, 1, 0, 1),
    });
    // Row 0 (negative) scores -0 and row 1 (positive) +0: a tie worth half a pair; 0.625 if they were not.
    expect(classificationMetrics(input(-0)).metrics.roc_auc).toBe(
      classificationMetrics(input(0)).metrics.roc_auc,
    );
    expect(classificationMetrics(input(-0)).metrics.roc_auc).toBe(0.5);
  });

  it('sorts negative and wide-ranging scores (decision functions) correctly', () => {
    const scores = [-1e300, -2.5, -1, -Number.MIN_VALUE, 0, 1e-300, 0.5, 3, 1e300, Number.MAX_VALUE];
    const yTrue = Int32Array.from(scores, (_, i) => (i % 3 === 0 ? 0 : 1));
    const proba = new Float64Array(scores.length * 2);
    scores.forEach((s, i) => {
      proba[2 * i + 1] = s;
    });
    // Brute force Mann-Whitney: pairs (negative, positive) where the positive scores higher.
    let wins = 0;
    let pairs = 0;
    scores.forEach((sn, n) => {
      if (yTrue[n] !== 0) return;
      scores.forEach((sp, p) => {
        if (yTrue[p] !== 1) return;
        pairs++;
        wins += sp > sn ? 1 : sp === sn ? 0.5 : 0;
      });
    });
    const { metrics } = classificationMetrics({ classes: ['a', 'b'], yTrue, yPred: yTrue, proba });
    expect(metrics.roc_auc).toBe(wins / pairs);
  });
});
