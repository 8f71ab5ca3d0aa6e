import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/errors.js';
import {
  describeKnownMetrics,
  editDistance,
  evaluateGates,
  formatMetricName,
  type GateContext,
  parseGates,
  summarizeGates,
} from '../src/gates/index.js';
import { configurationError } from './support/errors.js';

describe('parseGates', () => {
  it('reads one expression per line, skipping blank lines and comments', () => {
    const gates = parseGates(
      '# quality\n\naccuracy >= 0.90\n  f1_macro >= baseline - 0.01   # tolerate noise\n',
    );
    expect(gates).toEqual([
      {
        expression: 'accuracy >= 0.90',
        metric: 'accuracy',
        perSlice: false,
        operator: '>=',
        threshold: { kind: 'value', value: 0.9 },
        source: 'gates',
        line: 3,
      },
      {
        expression: 'f1_macro >= baseline - 0.01',
        metric: 'f1_macro',
        perSlice: false,
        operator: '>=',
        threshold: { kind: 'baseline', adjust: { op: '-', value: 0.01 } },
        source: 'gates',
        line: 4,
      },
    ]);
  });

  it('reads every operator, with or without spaces', () => {
    const ops = parseGates('a>=1\nb<=1\nc>1\nd<1\ne==1\nf!=1').map((g) => g.operator);
    expect(ops).toEqual(['>=', '<=', '>', '<', '==', '!=']);
  });

  it.each([
    ['0.9', 0.9],
    ['1e-3', 0.001],
    ['-2.5E2', -250],
    ['.5', 0.5],
    ['5%', 0.05],
    ['12.5%', 0.125],
  ])('reads the number %s', (text, value) => {
    expect(parseGates(`m <= ${text}`)[0].threshold).toEqual({ kind: 'value', value });
  });

  it('reads baseline thresholds', () => {
    const thresholds = parseGates(
      'a >= baseline\nb <= baseline*1.10\nc >= baseline + 2%\nd <= baseline-1e-3',
    ).map((g) => g.threshold);
    expect(thresholds).toEqual([
      { kind: 'baseline' },
      { kind: 'baseline', adjust: { op: '*', value: 1.1 } },
      { kind: 'baseline', adjust: { op: '+', value: 0.02 } },
      { kind: 'baseline', adjust: { op: '-', value: 0.001 } },
    ]);
  });

  it('reads per-class segments, quoted labels and the function form', () => {
    const metrics = parseGates(
      [
        'recall.yes >= 0.8',
        'recall.0 >= 0.8',
        'recall."high risk" >= 0.8',
        'precision."v1.2 # beta" >= 0.5 # the # inside quotes is not a comment',
        'recall."say \\"hi\\"" >= 0.1',
        'null_fraction(age) <= 1%',
        'null_fraction( "first name" ) <= 1%',
      ].join('\n'),
    ).map((g) => g.metric);
    expect(metrics).toEqual([
      'recall.yes',
      'recall.0',
      'recall.high risk',
      'precision.v1.2 # beta',
      'recall.say "hi"',
      'null_fraction(age)',
      'null_fraction(first name)',
    ]);
  });

  it('marks slice gates and strips the prefix from the metric', () => {
    const [overall, slice, sliceClass] = parseGates(
      'accuracy >= 0.9\nslice.accuracy >= 0.8\nslice.recall.yes > 0.5',
    );
    expect([overall.perSlice, slice.perSlice, sliceClass.perSlice]).toEqual([false, true, true]);
    expect([slice.metric, sliceClass.metric]).toEqual(['accuracy', 'recall.yes']);
  });

  it.each([
    [
      'accuracy 0.9',
      /line 2: `accuracy 0.9`: expected a comparison operator \(>=, <=, >, <, ==, !=\) at column 10/,
    ],
    ['accuracy = 0.9', /use == to test equality/],
    ['accuracy => 0.9', /did you mean >=\?/],
    ['accuracy >=', /expected a number \(e\.g\. 0\.9, 1e-3, 5%\) or baseline .* found the end of the line/],
    ['accuracy >= high', /expected a number .* found "high"/],
    ['accuracy >= 0.9 0.8', /expected the end of the expression at column 17, found "0.8"/],
    ['accuracy >= baseline / 2', /expected \+, - or \* after baseline/],
    ['accuracy >= baseline -', /expected a number after "baseline -"/],
    ['>= 0.9', /expected a metric name/],
    ['recall. >= 0.9', /expected a name or a "quoted label" after "\."/],
    ['recall."open >= 0.9', /expected a closing quote/],
    ['null_fraction(age <= 0.1', /expected a closing "\)"/],
    ['null_fraction() <= 0.1', /expected a column name inside "\( \)"/],
    ['accuracy >= 1e999', /expected a finite number, not 1e999/],
  ])('rejects %j naming the input, line, text and what is expected', (line, message) => {
    const error = configurationError(() => parseGates(`accuracy >= 0.9\n${line}`, 'gates'));
    expect(error.message).toMatch(/^gates, line 2: /);
    expect(error.message).toMatch(message);
  });

  it('names the source it was given', () => {
    expect(configurationError(() => parseGates('x ?', 'slo-gates')).message).toMatch(/^slo-gates, line 1: /);
  });

  it('formats canonical names back into the syntax', () => {
    for (const text of [
      'accuracy',
      'recall.yes',
      'recall."high risk"',
      'recall."a.b c"',
      'null_fraction("first name")',
    ]) {
      const [gate] = parseGates(`${text} >= 0`);
      expect(formatMetricName(gate.metric)).toBe(text);
    }
  });
});

describe('evaluateGates', () => {
  const evaluate = (text: string, ctx: GateContext) => evaluateGates(parseGates(text), ctx);

  it('passes and fails on the comparison, with the resolved threshold', () => {
    const results = evaluate('accuracy >= 0.9\nf1_macro >= baseline - 0.01\np95_ms <= baseline * 1.10', {
      metrics: { accuracy: 0.85, f1_macro: 0.795, p95_ms: 54 },
      baseline: { f1_macro: 0.8, p95_ms: 50 },
    });
    expect(results.map((r) => [r.metric, r.passed, r.actual, r.threshold])).toEqual([
      ['accuracy', false, 0.85, 0.9],
      ['f1_macro', true, 0.795, 0.8 - 0.01],
      ['p95_ms', true, 54, 50 * 1.1],
    ]);
    expect(results.every((r) => r.scope === 'overall' && r.reason === undefined)).toBe(true);
  });

  it.each([
    [null, /`accuracy` could not be computed/],
    [Number.NaN, /`accuracy` is NaN/],
    [Number.POSITIVE_INFINITY, /`accuracy` is Infinity/],
    [Number.NEGATIVE_INFINITY, /`accuracy` is -Infinity/],
  ])('fails closed when the actual value is %s', (value, reason) => {
    // `!=` would pass for NaN under plain comparison: it must not.
    for (const op of ['>=', '<=', '!=']) {
      const [result] = evaluate(`accuracy ${op} 0.5`, { metrics: { accuracy: value } });
      expect(result.passed).toBe(false);
      expect(result.actual).toBeNull();
      expect(result.reason).toMatch(reason);
    }
  });

  it('fails a metric that is known but was not measured', () => {
    const [result] = evaluate('recall.maybe >= 0.5', {
      metrics: { accuracy: 1 },
      known: ['accuracy', 'recall.maybe'],
    });
    expect(result).toMatchObject({ passed: false, actual: null, reason: '`recall.maybe` was not measured' });
  });

  it('fails baseline gates without a baseline, or with its value missing', () => {
    const gates = 'accuracy >= baseline\nf1_macro >= baseline - 0.01';
    const none = evaluate(gates, { metrics: { accuracy: 0.9, f1_macro: 0.8 } });
    expect(none.map((r) => [r.passed, r.threshold, r.reason])).toEqual([
      [false, null, 'no baseline was given'],
      [false, null, 'no baseline was given'],
    ]);
    const partial = evaluate(gates, {
      metrics: { accuracy: 0.9, f1_macro: 0.8 },
      baseline: { accuracy: null },
    });
    expect(partial.map((r) => r.reason)).toEqual([
      "the baseline's `accuracy` could not be computed",
      "the baseline's `f1_macro` was not measured",
    ]);
  });

  it('gives both reasons when neither side is usable', () => {
    const [result] = evaluate('accuracy >= baseline', { metrics: { accuracy: Number.NaN } });
    expect(result.reason).toBe('`accuracy` is NaN; no baseline was given');
  });

  it('judges slice gates once per eligible slice and never gates ineligible ones', () => {
    const results = evaluate('slice.accuracy >= 0.8\nslice.accuracy >= baseline', {
      metrics: { accuracy: 0.9 },
      slices: [
        {
          scope: 'slice:region=eu',
          metrics: { accuracy: 0.85 },
          baseline: { accuracy: 0.84 },
          eligible: true,
        },
        { scope: 'slice:region=us', metrics: { accuracy: 0.75 }, eligible: true },
        { scope: 'slice:region=apac', metrics: { accuracy: 0.1 }, eligible: false, reason: '12 rows < 30' },
      ],
    });
    expect(results.map((r) => [r.scope, r.passed, r.reason])).toEqual([
      ['slice:region=eu', true, undefined],
      ['slice:region=us', false, undefined],
      ['slice:region=eu', true, undefined],
      ['slice:region=us', false, 'no baseline was given for this slice'],
    ]);
  });

  it('fails a slice gate once when no slice is eligible', () => {
    const [result, ...rest] = evaluate('slice.accuracy >= 0.8', {
      metrics: { accuracy: 0.9 },
      slices: [
        { scope: 'slice:region=apac', metrics: { accuracy: 0.95 }, eligible: false, reason: '12 rows < 30' },
      ],
    });
    expect(rest).toEqual([]);
    expect(result).toMatchObject({ passed: false, scope: 'slice:*', actual: null, threshold: null });
    expect(result.reason).toBe('none of the 1 slices is eligible (slice:region=apac: 12 rows < 30)');
    const [noSlices] = evaluate('slice.accuracy >= 0.8', { metrics: { accuracy: 0.9 } });
    expect(noSlices.reason).toMatch(/no slices were computed/);
  });

  it('rejects an unknown metric, suggesting the closest and listing the known ones', () => {
    const error = configurationError(() =>
      evaluate('accuracy >= 0.9\nf1_marco >= 0.8', { metrics: { accuracy: 1, f1_macro: 1, log_loss: 0.1 } }),
    );
    expect(error.message).toBe(
      'gates, line 2: unknown metric `f1_marco` in `f1_marco >= 0.8`. Did you mean `f1_macro`?\n' +
        'Known metrics: accuracy, f1_macro, log_loss',
    );
  });

  it('suggests nothing when no known name is close', () => {
    const error = configurationError(() => evaluate('throughput >= 10', { metrics: { accuracy: 1 } }));
    expect(error.message).not.toMatch(/Did you mean/);
  });

  it('checks names against `known`, not only the measured metrics', () => {
    expect(() => evaluate('recall.maybe >= 0.1', { metrics: {}, known: ['recall.maybe'] })).not.toThrow();
    expect(() => evaluate('accuracy >= 0.1', { metrics: { accuracy: 1 }, known: ['f1_macro'] })).toThrow(
      ConfigurationError,
    );
  });

  it('summarises large per-class families in the known list', () => {
    const known = ['accuracy', ...['a', 'b', 'c', 'd', 'e'].map((c) => `recall.${c}`), 'recall.high risk'];
    known.push('precision.x', 'null_fraction(age)');
    expect(describeKnownMetrics(known)).toBe(
      'accuracy, null_fraction(age), precision.x, recall.<class> (6 names: recall.a, recall.b, recall.c, …)',
    );
  });
});

describe('baseline gates on estimates with an interval', () => {
  const gates = parseGates('p95_ms <= baseline * 1.10\nthroughput >= baseline * 0.9\np50_ms <= 10');
  const judge = (intervals: Record<string, [number, number]>) =>
    evaluateGates(gates, {
      metrics: { p95_ms: 12, throughput: 80, p50_ms: 9 },
      baseline: { p95_ms: 10, throughput: 100, p50_ms: 9 },
      intervals,
    });

  it('fails only when the whole interval breaks the threshold', () => {
    // p95 is 20% above its baseline, but the interval reaches below the 11 ms threshold: noise, not proof.
    const [p95, throughput, p50] = judge({ p95_ms: [10.5, 13], throughput: [70, 95], p50_ms: [1, 20] });
    expect(p95).toMatchObject({ passed: true, actual: 12, threshold: 11, interval: [10.5, 13] });
    expect(throughput).toMatchObject({ passed: true, threshold: 90 });
    // Absolute gates ignore intervals.
    expect(p50).toMatchObject({ passed: true });
    expect(p50.interval).toBeUndefined();
  });

  it('fails when the interval lies wholly beyond the threshold', () => {
    const [p95, throughput] = judge({ p95_ms: [11.5, 13], throughput: [70, 85] });
    expect(p95.passed).toBe(false);
    expect(throughput.passed).toBe(false);
  });
});

describe('summarizeGates', () => {
  it('passes only when every result passed, and lists the failed ones', () => {
    const results = evaluateGates(parseGates('a >= 1\nb >= 1\nc >= 1'), { metrics: { a: 1, b: 0, c: null } });
    const summary = summarizeGates(results);
    expect(summary.passed).toBe(false);
    expect(summary.failed.map((r) => r.metric)).toEqual(['b', 'c']);
    expect(summarizeGates([])).toEqual({ passed: true, failed: [] });
  });
});

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('f1_macro', 'f1_macro')).toBe(0);
  });
});
