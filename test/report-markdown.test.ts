import { describe, expect, it } from 'vitest';
import {
  code,
  details,
  formatNumber,
  gateTable,
  metricsTable,
  raw,
  renderHeader,
  statusIcon,
  TRUNCATION_NOTE,
  table,
  truncateForComment,
} from '../src/report/markdown.js';
import type { GateResult } from '../src/report/types.js';

const gate = (expression: string, passed: boolean, extra: Partial<GateResult> = {}): GateResult => ({
  expression,
  metric: expression.split(' ')[0],
  operator: '>=',
  actual: 0.9,
  threshold: 0.8,
  passed,
  scope: 'overall',
  ...extra,
});

describe('table', () => {
  it('renders a GitHub table with alignment', () => {
    expect(
      table(
        ['Name', 'Value'],
        [
          ['a', 1],
          ['b', 0.5],
        ],
        ['left', 'right'],
      ),
    ).toBe('| Name | Value |\n| :--- | ---: |\n| a | 1 |\n| b | 0.5 |');
  });

  it('escapes pipes, newlines and HTML in cells, and shows null as a dash', () => {
    expect(table(['x'], [['a|b'], ['line 1\nline 2'], ['<script>&'], [null]])).toBe(
      '| x |\n| --- |\n| a\\|b |\n| line 1<br>line 2 |\n| &lt;script&gt;&amp; |\n| — |',
    );
  });

  it('passes raw markdown through, and makes code spans safe for any text', () => {
    expect(table(['s'], [[raw('**bold**')]])).toContain('| **bold** |');
    expect(code('a >= 1').markdown).toBe('`a >= 1`');
    expect(code('x | y').markdown).toBe('`x \\| y`');
    expect(code('uses `tick`').markdown).toBe('`` uses `tick` ``');
    expect(code('two\nlines').markdown).toBe('`two lines`');
  });
});

describe('formatNumber', () => {
  it.each([
    [0.912345, '0.9123'],
    [0.5, '0.5'],
    [1, '1'],
    [1234567, '1,234,567'],
    [-1234567, '-1,234,567'],
    [1234.56789, '1,234.5679'],
    [0.000123456, '0.0001235'],
    [1.5e-9, '1.500e-9'],
    [0, '0'],
    [-0.25, '-0.25'],
    [null, '—'],
    [undefined, '—'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, '∞'],
    [Number.NEGATIVE_INFINITY, '−∞'],
  ])('formats %s as %s', (value, text) => {
    expect(formatNumber(value)).toBe(text);
  });
});

describe('small primitives', () => {
  it('renders status icons and details blocks', () => {
    expect([statusIcon(true), statusIcon(false)]).toEqual(['✅', '❌']);
    expect(details('Per class <3', '| a |')).toBe(
      '<details>\n<summary>Per class &lt;3</summary>\n\n| a |\n\n</details>',
    );
  });

  it('renders a one-line verdict', () => {
    const passed = [gate('a >= 1', true), gate('b >= 1', true)];
    expect(renderHeader({ passed: true, gates: passed }, 'validate-model')).toBe(
      '### ✅ validate-model: passed (2 of 2 gates passed)',
    );
    expect(renderHeader({ passed: false, gates: [...passed, gate('c >= 1', false)] }, 'validate-model')).toBe(
      '### ❌ validate-model: failed (1 of 3 gates failed)',
    );
    expect(renderHeader({ passed: true, gates: [] }, 'scan')).toBe(
      '### ✅ scan: passed (no gates configured)',
    );
  });
});

describe('gateTable', () => {
  it('puts failed gates first and shows scope, values and reasons', () => {
    const markdown = gateTable([
      gate('accuracy >= 0.8', true),
      gate('f1 >= baseline', false, { actual: null, threshold: null, reason: 'no baseline was given' }),
      gate('slice.accuracy >= 0.95', false, { scope: 'slice:region=eu', actual: 0.9, threshold: 0.95 }),
    ]);
    expect(markdown.split('\n')).toEqual([
      '|  | Gate | Scope | Actual | Threshold | Reason |',
      '| :---: | :--- | :--- | ---: | ---: | :--- |',
      '| ❌ | `f1 >= baseline` | overall | — | — | no baseline was given |',
      '| ❌ | `slice.accuracy >= 0.95` | slice:region=eu | 0.9 | 0.95 |  |',
      '| ✅ | `accuracy >= 0.8` | overall | 0.9 | 0.8 |  |',
    ]);
    expect(gateTable([])).toBe('_No gates were configured._');
  });
});

describe('metricsTable', () => {
  it('shows values, and baseline with the change when there is one', () => {
    expect(metricsTable({ accuracy: 0.91, log_loss: null })).toBe(
      '| Metric | Value |\n| :--- | ---: |\n| `accuracy` | 0.91 |\n| `log_loss` | — |',
    );
    expect(
      metricsTable({ accuracy: 0.91, f1: 0.7, p95_ms: 12 }, { accuracy: 0.9, f1: 0.75 }).split('\n').slice(2),
    ).toEqual([
      '| `accuracy` | 0.91 | 0.9 | +0.01 |',
      '| `f1` | 0.7 | 0.75 | -0.05 |',
      '| `p95_ms` | 12 | — | — |',
    ]);
  });
});

describe('truncateForComment', () => {
  const section = (n: number, size: number) => `## Section ${n}\n\n${'x'.repeat(size)}\n`;

  it('leaves short markdown alone', () => {
    expect(truncateForComment('# hi', 100)).toBe('# hi');
  });

  it('cuts at the last section boundary that fits and adds the note', () => {
    const markdown = [1, 2, 3, 4].map((n) => section(n, 300)).join('\n');
    const cut = truncateForComment(markdown, 1000);
    expect(cut.length).toBeLessThanOrEqual(1000);
    expect(cut).toContain('## Section 2');
    expect(cut).not.toContain('## Section 3');
    expect(cut.endsWith(TRUNCATION_NOTE)).toBe(true);
    expect(cut).toMatch(/job summary/);
  });

  it('never cuts inside an open <details> or a code fence', () => {
    const inner = `<details>\n<summary>big</summary>\n\n## not a boundary\n\n${'y'.repeat(600)}\n\n</details>`;
    const fence = `\`\`\`\n# not a heading either\n${'z'.repeat(600)}\n\`\`\``;
    const markdown = `## Top\n\n${'x'.repeat(400)}\n\n${inner}\n\n${fence}\n`;
    const cut = truncateForComment(markdown, 900, 'NOTE');
    expect(cut).toBe(`## Top\n\n${'x'.repeat(400)}\n\nNOTE`);
  });

  it('falls back to a line break when the text has no structure', () => {
    const markdown = Array.from({ length: 50 }, (_, i) => `line ${i} ${'w'.repeat(30)}`).join('\n');
    const cut = truncateForComment(markdown, 500, 'NOTE');
    expect(cut.length).toBeLessThanOrEqual(500);
    expect(cut).toMatch(/w\n\nNOTE$/);
  });
});
