// The gate language shared by every action: parse the `gates` input once, judge it against measured metrics.
export {
  assertKnownMetrics,
  compare,
  describeKnownMetrics,
  editDistance,
  evaluateGates,
  type GateContext,
  type GateSummary,
  type MetricValues,
  NO_ELIGIBLE_SLICE_SCOPE,
  type SliceMetrics,
  summarizeGates,
} from './evaluate.js';
export { loadGates } from './load.js';
export { formatMetricName, type Gate, type Operator, parseGates, type Threshold } from './parse.js';
