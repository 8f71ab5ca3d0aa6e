export {
  type ClassificationInput,
  type ClassificationResult,
  classificationMetrics,
  type MetricValues,
  type PerClassMetrics,
} from './classification.js';
export { REGRESSION_METRICS, regressionMetrics } from './regression.js';
export {
  type BootstrapOptions,
  compareClassification,
  compareRegression,
  DEFAULT_RESAMPLES,
  defaultResamples,
  type Interval,
  type McNemarResult,
  type MetricPair,
  mcnemar,
  pairedBootstrap,
  Xoshiro128,
} from './significance.js';
