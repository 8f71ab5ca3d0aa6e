/**
 * How long to measure, the same for a model in-process and an endpoint over HTTP: warm up, then measure in
 * windows until both a minimum duration and a minimum count are reached and, when asked, the last windows
 * agree; with a baseline, the two are measured in alternating windows so that whatever the machine does
 * meanwhile (a noisy neighbour, a CPU clocking down) falls on both.
 */
import { Histogram } from './histogram.js';

/** What one window of measuring gave: latencies of the successful calls, and what went wrong. */
export interface Window {
  latenciesMs: Float64Array;
  sent: number;
  ok: number;
  errors: { status: number; timeout: number; network: number; body: number };
  statusCounts?: Record<string, number>;
  elapsedMs: number;
  firstError?: string;
}

/** A level of the sweep: a batch size in-process; a concurrency or a request rate over HTTP. */
export interface Level {
  name: 'batch' | 'concurrency' | 'rate';
  value: number;
}

/** Something to measure: a model session or an endpoint. */
export interface Arm {
  warm(level: Level, ms: number): Promise<void>;
  window(level: Level, ms: number): Promise<Window>;
}

export interface MeasureSettings {
  warmupMs: number;
  minDurationMs: number;
  minCount: number;
  windowMs: number;
  /** Stop only when the medians of the last STABLE_WINDOWS windows agree within this share. */
  stability?: number;
  /** The most windows per level (and per arm), whatever the stability rule says. */
  maxWindows: number;
}

export const STABLE_WINDOWS = 3;

export interface Measured {
  histogram: Histogram;
  windows: { ms: number; sent: number; ok: number; p50: number }[];
  sent: number;
  ok: number;
  errors: Window['errors'];
  statusCounts: Record<string, number>;
  elapsedMs: number;
  firstError?: string;
  /** Whether the stability rule was met; null when none was asked for. */
  stable: boolean | null;
}

/** Accumulates windows of one arm at one level. */
class Tally {
  readonly histogram = new Histogram();
  readonly windows: Measured['windows'] = [];
  sent = 0;
  ok = 0;
  elapsedMs = 0;
  errors: Window['errors'] = { status: 0, timeout: 0, network: 0, body: 0 };
  statusCounts: Record<string, number> = {};
  firstError?: string;
  /** One histogram per window, for the paired comparison of trials. */
  readonly perWindow: Histogram[] = [];

  add(w: Window) {
    const h = new Histogram();
    h.recordAll(w.latenciesMs);
    this.perWindow.push(h);
    this.histogram.add(h);
    this.windows.push({
      ms: w.elapsedMs,
      sent: w.sent,
      ok: w.ok,
      p50: h.count > 0 ? h.percentile(50) : Number.NaN,
    });
    this.sent += w.sent;
    this.ok += w.ok;
    this.elapsedMs += w.elapsedMs;
    for (const k of Object.keys(this.errors) as (keyof Window['errors'])[]) this.errors[k] += w.errors[k];
    for (const [status, n] of Object.entries(w.statusCounts ?? {}))
      this.statusCounts[status] = (this.statusCounts[status] ?? 0) + n;
    this.firstError ??= w.firstError;
  }

  enough(settings: MeasureSettings): boolean {
    return this.elapsedMs >= settings.minDurationMs && this.ok >= settings.minCount;
  }

  stable(settings: MeasureSettings): boolean {
    if (settings.stability === undefined) return true;
    const last = this.windows.slice(-STABLE_WINDOWS).map((w) => w.p50);
    if (last.length < STABLE_WINDOWS || last.some((v) => !Number.isFinite(v))) return false;
    return Math.max(...last) / Math.min(...last) - 1 <= settings.stability;
  }

  result(settings: MeasureSettings): Measured {
    return {
      histogram: this.histogram,
      windows: this.windows,
      sent: this.sent,
      ok: this.ok,
      errors: this.errors,
      statusCounts: this.statusCounts,
      elapsedMs: this.elapsedMs,
      ...(this.firstError ? { firstError: this.firstError } : {}),
      stable: settings.stability === undefined ? null : this.stable(settings),
    };
  }
}

/** One arm at one level. */
export async function measure(arm: Arm, level: Level, settings: MeasureSettings): Promise<Measured> {
  await arm.warm(level, settings.warmupMs);
  const tally = new Tally();
  do {
    tally.add(await arm.window(level, settings.windowMs));
  } while (
    !(tally.enough(settings) && tally.stable(settings)) &&
    tally.windows.length < settings.maxWindows &&
    // A target that answers nothing would otherwise be polled for maxWindows windows.
    !(tally.ok === 0 && tally.elapsedMs >= settings.minDurationMs)
  );
  return tally.result(settings);
}

export interface Interleaved {
  candidate: Measured;
  baseline: Measured;
  /** Per trial, each arm's histogram: trial i of one arm ran next to trial i of the other. */
  trials: { candidate: Histogram[]; baseline: Histogram[] };
}

/**
 * Candidate and baseline in alternating windows, in the order A B B A A B B A ... so that neither arm
 * always runs first, for `trials` pairs (more when the minimum duration or count asks for it, up to the
 * window cap).
 */
export async function measureInterleaved(
  candidate: Arm,
  baseline: Arm,
  level: Level,
  settings: MeasureSettings,
  trials: number,
): Promise<Interleaved> {
  await candidate.warm(level, settings.warmupMs);
  await baseline.warm(level, settings.warmupMs);
  const a = new Tally();
  const b = new Tally();
  for (let t = 0; ; t++) {
    const order = t % 2 === 0 ? [a, b] : [b, a];
    for (const tally of order)
      tally.add(await (tally === a ? candidate : baseline).window(level, settings.windowMs));
    const done =
      t + 1 >= trials && a.enough(settings) && b.enough(settings) && a.stable(settings) && b.stable(settings);
    if (done || a.windows.length >= settings.maxWindows) break;
  }
  return {
    candidate: a.result(settings),
    baseline: b.result(settings),
    trials: { candidate: a.perWindow, baseline: b.perWindow },
  };
}
