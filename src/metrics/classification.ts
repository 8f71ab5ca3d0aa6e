/**
 * Classification metrics that agree with scikit-learn 1.2.1 to 1e-9 (checked against committed fixtures).
 *
 * Every metric is a function of weighted sufficient statistics: a confusion matrix, a sum of per-row log
 * losses and, per scored class, sums gathered in one walk down the rows sorted by score (sorted once). The
 * point estimate uses unit weights; the paired bootstrap in significance.ts reuses the same code with
 * Poisson weights, so the two can never disagree on what a metric means.
 */

export interface ClassificationInput {
  /** Class names; index = class id. May include labels seen only in the data. */
  classes: string[];
  /** How many leading classes have a proba column (default classes.length); later labels are unknown to the model. */
  scoreClasses?: number;
  /** Class id per row. */
  yTrue: Int32Array;
  /** Predicted class id per row. */
  yPred: Int32Array;
  /** N * scoreClasses, row-major; absent when the model gives no scores. */
  proba?: Float32Array | Float64Array;
  /** Binary problems: which class is "positive" (default 1). */
  positiveIndex?: number;
}

export type MetricValues = Record<string, number | null>;

export interface PerClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationResult {
  /** Flat metric name -> value; null = not computable (the reason is in notes). */
  metrics: MetricValues;
  perClass: PerClassMetrics[];
  /** Rows = true, columns = predicted, as sklearn's confusion_matrix. */
  confusionMatrix: { labels: string[]; matrix: number[][] };
  /** Why a metric is null, zero-division warnings and the like: one short sentence each. */
  notes: string[];
}

/** The ranking metrics walk the rows from the highest score down, one group of tied scores at a time. */
interface ScoreColumn {
  /** Row ids by descending score. */
  readonly order: Int32Array;
  /** Per position in `order`: bit 0 = the row is positive, bit 1 = it is the last of its tie group. */
  readonly flags: Uint8Array;
  /** Class name, for notes. */
  readonly label: string;
}

interface PreparedScores {
  /** Binary scores: the positive class only. Multiclass: every scored class, one-vs-rest. */
  readonly columns: ScoreColumn[];
  /** Per-row log loss after sklearn's clipping and row renormalisation, in the order of columns[0]. */
  readonly loss: Float64Array;
}

/** Everything derived once from an input; sums over any weighting of its rows give every metric. */
export interface PreparedClassification {
  readonly rows: number;
  /** Two classes: the problem also reports precision, recall and f1 of the positive class. */
  readonly binary: boolean;
  /** Names of the labels present in y_true or y_pred, in class-id order: sklearn's inferred label set. */
  readonly labels: string[];
  /** Index into `labels` of the positive class; -1 when not binary or when the class is absent from the data. */
  readonly positive: number;
  readonly positiveName: string;
  /**
   * Per row: its confusion-matrix cell, trueLabel * labels.length + predictedLabel. In the order of
   * scores.columns[0] when there are scores, so that a single sequential pass gathers everything.
   */
  readonly cell: Int32Array;
  readonly scores: PreparedScores | null;
  /** Why roc_auc, pr_auc and log_loss are null, when scores is null. */
  readonly noScores: string;
}

/** What ROC AUC and average precision need from one score column. */
interface RankingSums {
  positives: number;
  negatives: number;
  /** Sum over negatives of the positive weight above them, ties counting one half. */
  area: number;
  /** Sum over tie groups of (their positive weight) x (precision at their threshold). */
  precision: number;
}

export interface ClassificationSums {
  weight: number;
  /** labels.length x labels.length, row-major, rows = true. */
  readonly confusion: Float64Array;
  loss: number;
  readonly ranking: RankingSums[];
  /** Scratch: the weights in the order of the column being walked. */
  readonly sortedWeights: Uint8Array;
}

export const LABEL_METRICS = [
  'accuracy',
  'balanced_accuracy',
  'precision_macro',
  'recall_macro',
  'f1_macro',
  'precision_micro',
  'recall_micro',
  'f1_micro',
  'precision_weighted',
  'recall_weighted',
  'f1_weighted',
  'mcc',
] as const;
export const BINARY_METRICS = ['precision', 'recall', 'f1'] as const;
export const SCORE_METRICS = ['roc_auc', 'pr_auc', 'log_loss'] as const;
/** Per-class metrics, named `<metric>.<label>`. */
export const PER_CLASS_METRICS = ['precision', 'recall', 'f1'] as const;

/**
 * Metric names: accuracy, balanced_accuracy, {precision,recall,f1}_{macro,micro,weighted}, mcc,
 * roc_auc, pr_auc, log_loss; for two classes also precision, recall, f1 of the positive class; and
 * precision.<label>, recall.<label>, f1.<label> for every label in y_true or y_pred (sklearn's label set;
 * per-class results and the confusion matrix follow class-id order).
 *
 * Scores: with two scored classes roc_auc and pr_auc rank the positive class's column; with more they are
 * one-vs-rest macro averages. pr_auc is average precision (sklearn's average_precision_score, a step
 * sum), not the trapezoidal area under the precision-recall curve.
 */
export function classificationMetrics(input: ClassificationInput): ClassificationResult {
  const prepared = prepareClassification(input);
  const sums = createClassificationSums(prepared);
  accumulateClassification(prepared, new Uint8Array(prepared.rows).fill(1), sums);
  const notes: string[] = [];
  const metrics = classificationFromSums(prepared, sums, notes);
  const L = prepared.labels.length;
  const stats = labelStats(sums.confusion, L);
  return {
    metrics,
    perClass: prepared.labels.map((label, l) => ({
      label,
      precision: stats.precision[l],
      recall: stats.recall[l],
      f1: stats.f1[l],
      support: stats.support[l],
    })),
    confusionMatrix: {
      labels: prepared.labels,
      matrix: prepared.labels.map((_, t) => Array.from(sums.confusion.subarray(t * L, (t + 1) * L))),
    },
    notes,
  };
}

export function prepareClassification(input: ClassificationInput): PreparedClassification {
  const { classes, yTrue, yPred } = input;
  const rows = yTrue.length;
  if (yPred.length !== rows) throw new RangeError(`yTrue has ${rows} rows but yPred has ${yPred.length}`);
  const k = input.scoreClasses ?? classes.length;
  const positiveIndex = input.positiveIndex ?? 1;
  if (!(Number.isInteger(k) && k >= 0 && k <= classes.length)) {
    throw new RangeError(`scoreClasses ${k} must be between 0 and ${classes.length}`);
  }
  if (!(Number.isInteger(positiveIndex) && positiveIndex >= 0 && positiveIndex < Math.max(k, 2))) {
    throw new RangeError(`positiveIndex ${positiveIndex} is not a scored class`);
  }
  const labelOf = new Int32Array(classes.length).fill(-1);
  for (const ids of [yTrue, yPred]) {
    for (let i = 0; i < rows; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < classes.length))
        throw new RangeError(`class id ${id} at row ${i} is not in classes`);
      labelOf[id] = 0;
    }
  }
  const labels: string[] = [];
  for (let id = 0; id < classes.length; id++)
    if (labelOf[id] === 0) labelOf[id] = labels.push(classes[id]) - 1;
  const L = labels.length;
  const { scores, reason } = prepareScores(input, k, positiveIndex);
  const order = scores?.columns[0].order;
  const cell = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const row = order ? order[i] : i;
    cell[i] = labelOf[yTrue[row]] * L + labelOf[yPred[row]];
  }
  const binary = classes.length === 2;
  return {
    rows,
    binary,
    labels,
    positive: binary ? labelOf[positiveIndex] : -1,
    positiveName: classes[positiveIndex] ?? '',
    cell,
    scores,
    noScores: reason,
  };
}

function prepareScores(
  input: ClassificationInput,
  k: number,
  positiveIndex: number,
): { scores: PreparedScores | null; reason: string } {
  const { classes, yTrue, proba } = input;
  const unavailable = (why: string) => ({
    scores: null,
    reason: `${why}: roc_auc, pr_auc and log_loss are null.`,
  });
  if (!proba) return unavailable('The model gives no probabilities');
  if (proba.length !== yTrue.length * k) {
    throw new RangeError(`proba has ${proba.length} values, expected ${yTrue.length} rows x ${k} classes`);
  }
  if (k < 2) return unavailable('The model scores fewer than two classes');
  const unknown = new Set<string>();
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] >= k) unknown.add(classes[yTrue[i]]);
  if (unknown.size > 0)
    return unavailable(`y_true holds labels the model cannot score (${[...unknown].join(', ')})`);
  for (let i = 0; i < proba.length; i++) {
    if (!Number.isFinite(proba[i])) return unavailable('The probabilities contain NaN or infinite values');
  }
  // sklearn 1.2.1 clips with the machine epsilon of the input's dtype.
  const eps = proba instanceof Float32Array ? 2 ** -23 : Number.EPSILON;
  const scoredIds = k === 2 ? [positiveIndex] : Array.from({ length: k }, (_, c) => c);
  const columns = scoredIds.map((c) => scoreColumn(proba, k, c, yTrue, classes[c]));
  const rowLoss = rowLogLoss(proba, k, yTrue, eps);
  const { order } = columns[0];
  const loss = new Float64Array(order.length);
  for (let i = 0; i < order.length; i++) loss[i] = rowLoss[order[i]];
  return { scores: { columns, loss }, reason: '' };
}

/** sklearn's log_loss per row: clip to [eps, 1 - eps], renormalise the row, take -log of the true class. */
function rowLogLoss(
  proba: Float32Array | Float64Array,
  k: number,
  yTrue: Int32Array,
  eps: number,
): Float64Array {
  const loss = new Float64Array(yTrue.length);
  const clip = (p: number) => Math.min(Math.max(p, eps), 1 - eps);
  for (let i = 0, base = 0; i < yTrue.length; i++, base += k) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += clip(proba[base + j]);
    loss[i] = -Math.log(clip(proba[base + yTrue[i]]) / sum);
  }
  return loss;
}

/** Sorts the column once; ties form one group, which is how sklearn's curves treat them. */
function scoreColumn(
  proba: Float32Array | Float64Array,
  k: number,
  column: number,
  yTrue: Int32Array,
  label: string,
): ScoreColumn {
  const rows = yTrue.length;
  const scores = new Float64Array(rows);
  for (let i = 0; i < rows; i++) scores[i] = proba[i * k + column];
  const { order, lastOfGroup } = sortDescending(scores);
  const flags = new Uint8Array(rows);
  for (let at = 0; at < rows; at++)
    flags[at] = (yTrue[order[at]] === column ? 1 : 0) | (lastOfGroup[at] << 1);
  return { order, flags, label };
}

const RADIX_BITS = 11;

/**
 * Row ids by descending score, and which positions end a group of equal scores. An LSD radix sort on
 * the bits of the doubles, 11 bits a pass, skipping passes where every key has the same digit (the low
 * bits of widened float32 scores): a comparison sort of a million rows is several times slower in JS.
 */
function sortDescending(scores: Float64Array): { order: Int32Array; lastOfGroup: Uint8Array } {
  const rows = scores.length;
  const words = new Float64Array(rows);
  // Equal doubles must get equal keys: -0 + 0 is +0.
  for (let i = 0; i < rows; i++) words[i] = scores[i] + 0;
  const bits = new Uint32Array(words.buffer);
  const littleEndian = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;
  let hi = new Uint32Array(rows);
  let lo = new Uint32Array(rows);
  let order = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const h = bits[2 * i + (littleEndian ? 1 : 0)];
    const l = bits[2 * i + (littleEndian ? 0 : 1)];
    // IEEE order as unsigned order: negatives flip every bit, positives the sign bit. Then all bits are
    // flipped again to sort descending.
    const negative = h >>> 31 === 1;
    hi[i] = negative ? h : ~(h ^ 0x80000000);
    lo[i] = negative ? l : ~l;
    order[i] = i;
  }
  let hiOut = new Uint32Array(rows);
  let loOut = new Uint32Array(rows);
  let orderOut = new Int32Array(rows);
  const counts = new Int32Array(1 << RADIX_BITS);
  for (let pass = 0; pass < 6; pass++) {
    const keys = pass < 3 ? lo : hi;
    const shift = (pass % 3) * RADIX_BITS;
    const digit = (key: number) => (key >>> shift) & ((1 << RADIX_BITS) - 1);
    counts.fill(0);
    for (let i = 0; i < rows; i++) counts[digit(keys[i])]++;
    if (counts[digit(keys[0])] === rows) continue;
    for (let d = 0, at = 0; d < counts.length; d++) {
      const n = counts[d];
      counts[d] = at;
      at += n;
    }
    for (let i = 0; i < rows; i++) {
      const to = counts[digit(keys[i])]++;
      hiOut[to] = hi[i];
      loOut[to] = lo[i];
      orderOut[to] = order[i];
    }
    [hi, hiOut] = [hiOut, hi];
    [lo, loOut] = [loOut, lo];
    [order, orderOut] = [orderOut, order];
  }
  const lastOfGroup = new Uint8Array(rows);
  for (let at = 0; at < rows; at++) {
    lastOfGroup[at] = at === rows - 1 || hi[at] !== hi[at + 1] || lo[at] !== lo[at + 1] ? 1 : 0;
  }
  return { order, lastOfGroup };
}

export function createClassificationSums(prepared: PreparedClassification): ClassificationSums {
  const L = prepared.labels.length;
  return {
    weight: 0,
    confusion: new Float64Array(L * L),
    loss: 0,
    ranking: (prepared.scores?.columns ?? []).map(() => ({
      positives: 0,
      negatives: 0,
      area: 0,
      precision: 0,
    })),
    sortedWeights: new Uint8Array(prepared.scores ? prepared.rows : 0),
  };
}

/** Overwrites `sums` with the statistics of the rows weighted by `weights` (one small integer per row). */
export function accumulateClassification(
  prepared: PreparedClassification,
  weights: Uint8Array,
  sums: ClassificationSums,
): void {
  const { cell, scores } = prepared;
  sums.confusion.fill(0);
  if (!scores) {
    let weight = 0;
    for (let i = 0; i < cell.length; i++) {
      weight += weights[i];
      sums.confusion[cell[i]] += weights[i];
    }
    sums.weight = weight;
    return;
  }
  scores.columns.forEach((column, c) => {
    const first = c === 0;
    const { order, flags } = column;
    const sorted = sums.sortedWeights;
    // A gather on its own keeps many cache misses in flight; inside the walk below it would stall it.
    for (let i = 0; i < order.length; i++) sorted[i] = weights[order[i]];
    const loss = walkScores(flags, sorted, first ? cell : null, first ? scores.loss : null, sums, c);
    if (first) {
      sums.loss = loss;
      sums.weight = sums.ranking[0].positives + sums.ranking[0].negatives;
    }
  });
}

/**
 * One pass down a score column (weights already in its order): the ranking sums and, when `cell` and
 * `loss` are given (in the same order), the confusion matrix and the loss sum too, which saves a second
 * walk over a million rows. Returns the loss sum.
 */
function walkScores(
  flags: Uint8Array,
  weights: Uint8Array,
  cell: Int32Array | null,
  loss: Float64Array | null,
  sums: ClassificationSums,
  column: number,
): number {
  const { confusion } = sums;
  let lossSum = 0;
  let groupPositives = 0;
  let groupWeight = 0;
  let positives = 0;
  let negatives = 0;
  let area = 0;
  let precision = 0;
  for (let i = 0; i < flags.length; i++) {
    const w = weights[i];
    if (cell !== null) {
      confusion[cell[i]] += w;
      lossSum += w * loss![i];
    }
    const f = flags[i];
    groupPositives += w * (f & 1);
    groupWeight += w;
    if (f & 2) {
      const groupNegatives = groupWeight - groupPositives;
      area += groupNegatives * (positives + groupPositives / 2);
      positives += groupPositives;
      negatives += groupNegatives;
      // Branch-free: a group without positives adds 0, and the max only guards 0 / 0 before any weight.
      precision += groupPositives * (positives / Math.max(positives + negatives, 1));
      groupPositives = 0;
      groupWeight = 0;
    }
  }
  Object.assign(sums.ranking[column], { positives, negatives, area, precision });
  return lossSum;
}

const sum = (values: Float64Array) => values.reduce((a, b) => a + b, 0);
const mean = (values: Float64Array) => sum(values) / values.length;
const weightedMean = (values: Float64Array, weights: Float64Array) =>
  values.reduce((acc, v, i) => acc + v * weights[i], 0) / sum(weights);
/** F1 in the operation order of sklearn's (1 + beta2) * precision * recall / denom; 0 when both are 0. */
const harmonic = (p: number, r: number) => (p + r > 0 ? (2 * p * r) / (p + r) : 0);

interface LabelStats {
  support: Float64Array;
  predicted: Float64Array;
  correct: Float64Array;
  precision: Float64Array;
  recall: Float64Array;
  f1: Float64Array;
}

/** Per-label counts and scores; sklearn's zero_division="warn" sets an ill-defined ratio to 0. */
function labelStats(confusion: Float64Array, L: number): LabelStats {
  const s: LabelStats = {
    support: new Float64Array(L),
    predicted: new Float64Array(L),
    correct: new Float64Array(L),
    precision: new Float64Array(L),
    recall: new Float64Array(L),
    f1: new Float64Array(L),
  };
  for (let t = 0; t < L; t++) {
    for (let p = 0; p < L; p++) {
      const count = confusion[t * L + p];
      s.support[t] += count;
      s.predicted[p] += count;
    }
    s.correct[t] = confusion[t * L + t];
  }
  for (let l = 0; l < L; l++) {
    const p = s.predicted[l] > 0 ? s.correct[l] / s.predicted[l] : 0;
    const r = s.support[l] > 0 ? s.correct[l] / s.support[l] : 0;
    s.precision[l] = p;
    s.recall[l] = r;
    s.f1[l] = harmonic(p, r);
  }
  return s;
}

/**
 * Every metric from the sums. `notes` collects the explanations for the point estimate; the bootstrap
 * passes null because a resample's warnings are noise.
 */
export function classificationFromSums(
  prepared: PreparedClassification,
  sums: ClassificationSums,
  notes: string[] | null,
): MetricValues {
  const out: MetricValues = {};
  const names = [...LABEL_METRICS, ...(prepared.binary ? BINARY_METRICS : []), ...SCORE_METRICS];
  if (sums.weight === 0) {
    for (const name of names) out[name] = null;
    notes?.push('There are no rows: no metric can be computed.');
    return out;
  }
  Object.assign(out, labelMetrics(prepared, sums.confusion, notes));
  Object.assign(out, scoreMetrics(prepared, sums, notes));
  return out;
}

function labelMetrics(prepared: PreparedClassification, confusion: Float64Array, notes: string[] | null) {
  const { labels, positive, binary } = prepared;
  const L = labels.length;
  const s = labelStats(confusion, L);
  const total = sum(s.support);
  const correct = sum(s.correct);
  const out: MetricValues = {};
  out.accuracy = correct / total;
  // sklearn drops labels absent from y_true (their recall is undefined) before averaging.
  const seen = s.recall.filter((_, l) => s.support[l] > 0);
  out.balanced_accuracy = mean(seen);
  out.precision_macro = mean(s.precision);
  out.recall_macro = mean(s.recall);
  out.f1_macro = mean(s.f1);
  // The label set is every label in the data, so micro precision and recall both equal accuracy.
  const microP = correct / sum(s.predicted);
  const microR = correct / total;
  out.precision_micro = microP;
  out.recall_micro = microR;
  out.f1_micro = harmonic(microP, microR);
  out.precision_weighted = weightedMean(s.precision, s.support);
  out.recall_weighted = weightedMean(s.recall, s.support);
  out.f1_weighted = weightedMean(s.f1, s.support);
  out.mcc = matthews(s, correct, total);
  if (binary) {
    out.precision = positive >= 0 ? s.precision[positive] : 0;
    out.recall = positive >= 0 ? s.recall[positive] : 0;
    out.f1 = positive >= 0 ? s.f1[positive] : 0;
  }
  labels.forEach((label, l) => {
    out[`precision.${label}`] = s.precision[l];
    out[`recall.${label}`] = s.recall[l];
    out[`f1.${label}`] = s.f1[l];
  });
  if (notes) explainLabelMetrics(prepared, s, out.mcc, notes);
  return out;
}

/** sklearn's multiclass formula; 0 when either marginal is a single class (sklearn returns 0 silently). */
function matthews(s: LabelStats, correct: number, total: number): number {
  let truePred = 0;
  let predPred = 0;
  let trueTrue = 0;
  for (let l = 0; l < s.support.length; l++) {
    truePred += s.support[l] * s.predicted[l];
    predPred += s.predicted[l] * s.predicted[l];
    trueTrue += s.support[l] * s.support[l];
  }
  const covYtYp = correct * total - truePred;
  const covYpYp = total * total - predPred;
  const covYtYt = total * total - trueTrue;
  return covYpYp * covYtYt === 0 ? 0 : covYtYp / Math.sqrt(covYtYt * covYpYp);
}

function explainLabelMetrics(
  prepared: PreparedClassification,
  s: LabelStats,
  mcc: number | null,
  notes: string[],
) {
  const { labels, positive, binary, positiveName } = prepared;
  const list = (mask: (l: number) => boolean) => labels.filter((_, l) => mask(l)).join(', ');
  const neverPredicted = list((l) => s.predicted[l] === 0);
  if (neverPredicted) {
    notes.push(
      `Precision is ill-defined for labels never predicted (${neverPredicted}): set to 0, as scikit-learn's zero_division="warn".`,
    );
  }
  const absent = list((l) => s.support[l] === 0);
  if (absent) {
    notes.push(
      `Recall is ill-defined for labels absent from y_true (${absent}): set to 0, as scikit-learn's zero_division="warn"; balanced_accuracy leaves them out.`,
    );
  }
  if (binary && positive < 0) {
    notes.push(
      `The positive class ${positiveName} is absent from y_true and y_pred: precision, recall and f1 are 0.`,
    );
  }
  if (
    mcc === 0 &&
    (s.predicted.filter((c) => c > 0).length < 2 || s.support.filter((c) => c > 0).length < 2)
  ) {
    notes.push(
      'MCC is undefined when y_true or y_pred holds a single class: set to 0, as scikit-learn does.',
    );
  }
}

function scoreMetrics(prepared: PreparedClassification, sums: ClassificationSums, notes: string[] | null) {
  const { scores } = prepared;
  if (!scores) {
    notes?.push(prepared.noScores);
    return { roc_auc: null, pr_auc: null, log_loss: null };
  }
  const { columns } = scores;
  // Mann-Whitney form of the ROC area; undefined (NaN) without both classes.
  const auc = sums.ranking.map((r) =>
    r.positives > 0 && r.negatives > 0 ? r.area / (r.positives * r.negatives) : NaN,
  );
  // sklearn's average_precision_score: recall steps times precision. Without positives sklearn warns and
  // returns 0, and the class still counts in the macro mean.
  const ap = sums.ranking.map((r) => (r.positives > 0 ? r.precision / r.positives : NaN));
  if (notes) {
    const oneClass = columns.filter((_, c) => Number.isNaN(auc[c])).map((c) => c.label);
    if (oneClass.length > 0) {
      notes.push(
        columns.length === 1
          ? 'roc_auc is undefined: y_true holds only one class.'
          : `roc_auc (one-vs-rest) is undefined: class ${oneClass.join(', ')} is absent from y_true or is all of it.`,
      );
    }
    const noPositives = columns.filter((_, c) => Number.isNaN(ap[c])).map((c) => c.label);
    if (noPositives.length > 0) {
      notes.push(
        `Average precision is 0 for ${noPositives.join(', ')}: no row of y_true has it, as scikit-learn does.`,
      );
    }
  }
  const rocAuc = auc.reduce((a, b) => a + b, 0) / auc.length;
  return {
    roc_auc: Number.isNaN(rocAuc) ? null : rocAuc,
    pr_auc: ap.reduce((a, b) => a + (Number.isNaN(b) ? 0 : b), 0) / ap.length,
    log_loss: sums.loss / sums.weight,
  };
}
