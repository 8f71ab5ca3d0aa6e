import { describe, expect, it } from 'vitest';
import {
  type Arm,
  type Level,
  type MeasureSettings,
  measure,
  measureInterleaved,
  type Window,
} from '../src/latency/measure.js';

// The measuring policy with scripted arms: each window's latencies are given, so every stopping rule is
// checked exactly, without a clock.

const level: Level = { name: 'batch', value: 1 };

/** An arm whose windows take the latencies in turn (100 calls of it, `ms` long); it logs its calls. */
function scripted(name: string, latencies: number[], log: string[], ok = 100): Arm {
  let k = 0;
  return {
    warm: async () => {
      log.push(`${name}:warm`);
    },
    window: async (_level, ms): Promise<Window> => {
      log.push(name);
      const latency = latencies[k++ % latencies.length];
      return {
        latenciesMs: new Float64Array(ok).fill(latency),
        sent: 100,
        ok,
        errors: { status: 100 - ok, timeout: 0, network: 0, body: 0 },
        elapsedMs: ms,
      };
    },
  };
}

const settings = (over: Partial<MeasureSettings>): MeasureSettings => ({
  warmupMs: 0,
  minDurationMs: 1000,
  minCount: 1,
  windowMs: 500,
  maxWindows: 10,
  ...over,
});

describe('measure', () => {
  it('stops once both the minimum duration and count are reached', async () => {
    const log: string[] = [];
    const m = await measure(scripted('a', [5], log), level, settings({ minCount: 350 }));
    // 2 windows reach 1 s, 4 reach 350 calls.
    expect(m.windows).toHaveLength(4);
    expect(m.stable).toBeNull();
    expect(log).toEqual(['a:warm', 'a', 'a', 'a', 'a']);
    expect(m.histogram.count).toBe(400);
  });

  it('with a stability rule, goes on until the last 3 window medians agree', async () => {
    const m = await measure(
      scripted('a', [10, 20, 10, 10.2, 10.1, 30], []),
      level,
      settings({ stability: 0.05 }),
    );
    expect(m.windows.map((w) => w.p50)).toEqual([10, 20, 10, 10.2, 10.1].map((x) => expect.closeTo(x, 1)));
    expect(m.stable).toBe(true);
  });

  it('stops at the window cap and reports a level that never settled', async () => {
    const m = await measure(scripted('a', [10, 20], []), level, settings({ stability: 0.05, maxWindows: 6 }));
    expect(m.windows).toHaveLength(6);
    expect(m.stable).toBe(false);
  });

  it('gives up early on a target that answers nothing', async () => {
    const m = await measure(scripted('a', [10], [], 0), level, settings({ maxWindows: 50 }));
    expect(m.windows).toHaveLength(2);
    expect(m.ok).toBe(0);
    expect(m.errors.status).toBe(200);
  });
});

describe('measureInterleaved', () => {
  it('alternates A B B A for at least the trials asked, and keeps each window as a trial', async () => {
    const log: string[] = [];
    const run = await measureInterleaved(
      scripted('a', [5], log),
      scripted('b', [4], log),
      level,
      settings({ minDurationMs: 0 }),
      4,
    );
    expect(log).toEqual(['a:warm', 'b:warm', 'a', 'b', 'b', 'a', 'a', 'b', 'b', 'a']);
    expect(run.trials.candidate).toHaveLength(4);
    expect(run.trials.baseline).toHaveLength(4);
    expect(run.candidate.histogram.percentile(50)).toBeCloseTo(5, 2);
    expect(run.baseline.histogram.percentile(50)).toBeCloseTo(4, 2);
  });
});
