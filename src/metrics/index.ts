export {
  BINARY_METRICS,
  type ClassificationInput,
  type ClassificationResult,
  classificationMetrics,
  LABEL_METRICS,
  type MetricValues,
  PER_CLASS_METRICS,
  type PerClassMetrics,
  SCORE_METRICS,
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
