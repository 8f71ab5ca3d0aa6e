/**
 * A real Prometheus for tests, its TSDB backfilled from OpenMetrics text, so queries run against stored data
 * rather than against a fake of the HTTP API. The launcher is examples/prometheus.ts, which the demo uses too.
 */
import {
  type PrometheusOptions,
  prometheusBinary,
  promtoolBinary,
  type RunningPrometheus,
  startPrometheus as start,
} from '../../examples/prometheus.js';

export { freePort, type RunningPrometheus } from '../../examples/prometheus.js';

export const prometheusAvailable: boolean = prometheusBinary !== undefined && promtoolBinary !== undefined;

/** Starts Prometheus with `openMetrics` (samples with timestamps in seconds; `# EOF` added when missing) backfilled. */
export function startPrometheus(
  openMetrics: string,
  options: Omit<PrometheusOptions, 'backfill'> = {},
): Promise<RunningPrometheus> {
  return start({ ...options, backfill: openMetrics });
}
