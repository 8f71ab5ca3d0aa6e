/**
 * Classification metrics that agree with scikit-learn 1.2.1 to 1e-9 (checked against committed fixtures).
 *
 * Every metric is a function of weighted sufficient statistics: a confusion matrix, a sum of per-row log
 * losses and, per scored class, sums gathered in one walk down the rows sorted by score (sorted once). The
 * paired bootstrap in significance.ts walks the rows with Poisson weights; the point estimate goes through
 * ClassificationStatistics, where the ranking sums are kept as run lengths of distinct scores instead,
 * because those add up across shards of a test set and the ranking sums do not. Both end in
 * classificationFromSums, so no two paths can disagree on what a metric means.
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
  /** The class whose probability column this is; its rows are the positives. */
  readonly classId: number;
  /** Class name, for notes. */
  readonly label: string;
}

interface PreparedScores {
  /** Binary scores: the positive class only. Multiclass: every scored class, one-vs-rest. */
  readonly columns: ScoreColumn[];
  /** Per-row log loss after sklearn's clipping and row renormalisation, in the order of columns[0]. */
  readonly loss: Float64Array;
}

/** What the metrics need to know besides the sums: the label set, the positive class, the score columns. */
export interface ClassificationLayout {
  /** Two classes: the problem also reports precision, recall and f1 of the positive class. */
  readonly binary: boolean;
  /** Names of the labels present in y_true or y_pred, in class-id order: sklearn's inferred label set. */
  readonly labels: string[];
  /** Index into `labels` of the positive class; -1 when not binary or when the class is absent from the data. */
  readonly positive: number;
  readonly positiveName: string;
  /** Class name of each score column, in the order of the ranking sums; null when there are no scores. */
  readonly scored: string[] | null;
  /** Why roc_auc, pr_auc and log_loss are null, when scored is null. */
  readonly noScores: string;
}

/** Everything derived once from an input; sums over any weighting of its rows give every metric. */
export interface PreparedClassification extends ClassificationLayout {
  readonly rows: number;
  /**
   * Per row: its confusion-matrix cell, trueLabel * labels.length + predictedLabel. In the order of
   * scores.columns[0] when there are scores, so that a single sequential pass gathers everything.
   */
  readonly cell: Int32Array;
  readonly scores: PreparedScores | null;
}

/** What ROC AUC and average precision need from one score column. */
export interface RankingSums {
  positives: number;
  negatives: number;
  /** Sum over negatives of the positive weight above them, ties counting one half. */
  area: number;
  /** Sum over tie groups of (their positive weight) x (precision at their threshold). */
  precision: number;
}

/** The sums every metric is computed from (classificationFromSums). */
export interface ClassificationTotals {
  weight: number;
  /** labels.length x labels.length, row-major, rows = true. */
  readonly confusion: Float64Array;
  loss: number;
  readonly ranking: RankingSums[];
}

export interface ClassificationSums extends ClassificationTotals {
  /** Scratch: the weights in the order of the column being walked. */
  readonly sortedWeights: Uint8Array;
}

/**
 * One score column's rows grouped by distinct score, highest first: the exact, mergeable form of its
 * ranking sums. Its length is the number of distinct scores, at most the number of rows.
 */
export interface ScoreRuns {
  /** The class whose probability this is; its rows are the positives (binary: the positive class). */
  readonly classId: number;
  /** Distinct scores, strictly descending. */
  readonly scores: Float64Array;
  /** Per score: rows of the class, and rows of the other classes, with exactly that score. */
  readonly positives: Float64Array;
  readonly negatives: Float64Array;
}

/**
 * The sufficient statistics of a set of rows: every metric follows from them (classificationFromStatistics),
 * and those of disjoint sets of rows add up to those of their union (mergeClassificationStatistics), so a
 * test set evaluated in shards gives the metrics of the whole.
 */
export interface ClassificationStatistics {
  /** As ClassificationInput.classes; the matrix below is over all of them, so that shards line up. */
  readonly classes: string[];
  readonly scoreClasses: number;
  readonly positiveIndex: number;
  readonly rows: number;
  /** classes.length x classes.length, row-major, rows = true class id, columns = predicted. */
  readonly confusion: Float64Array;
  readonly scores: {
    /** The probabilities were float32 (log loss clipped with float32's epsilon; every score fits a float32). */
    readonly float32: boolean;
    /** Sum of the per-row log losses. */
    readonly lossSum: number;
    /** One per score column: binary, the positive class; multiclass, every scored class. */
    readonly runs: ScoreRuns[];
  } | null;
  /** Why roc_auc, pr_auc and log_loss are null, when scores is null. */
  readonly noScores: string;
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

/** numpy's np.unique order, which scikit-learn uses for classes_: numeric when every label is a number. */
export function sortLabels(labels: string[]): string[] {
  const numeric = labels.every((l) => l.trim() !== '' && Number.isFinite(Number(l)));
  return [...labels].sort(numeric ? (a, b) => Number(a) - Number(b) : (a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

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
  return classificationFromStatistics(classificationStatistics(input));
}

/** The statistics of the rows of an input: see ClassificationStatistics. */
export function classificationStatistics(input: ClassificationInput): ClassificationStatistics {
  const prepared = prepareClassification(input);
  const { classes, yTrue, yPred, proba } = input;
  const C = classes.length;
  const confusion = new Float64Array(C * C);
  for (let i = 0; i < prepared.rows; i++) confusion[yTrue[i] * C + yPred[i]]++;
  const k = input.scoreClasses ?? C;
  const { scores } = prepared;
  return {
    classes,
    scoreClasses: k,
    positiveIndex: input.positiveIndex ?? 1,
    rows: prepared.rows,
    confusion,
    scores: scores && {
      float32: proba instanceof Float32Array,
      // In the order accumulateClassification adds them, so the two sums agree to the last bit.
      lossSum: sum(scores.loss),
      runs: scores.columns.map((column) => scoreRuns(column, proba!, k)),
    },
    noScores: prepared.noScores,
  };
}

/** Every metric, the per-class table and the confusion matrix of the statistics of a set of rows. */
export function classificationFromStatistics(stats: ClassificationStatistics): ClassificationResult {
  const { classes, confusion: all } = stats;
  const C = classes.length;
  const present: number[] = [];
  for (let id = 0; id < C; id++) {
    let seen = false;
    for (let j = 0; j < C && !seen; j++) seen = all[id * C + j] > 0 || all[j * C + id] > 0;
    if (seen) present.push(id);
  }
  const L = present.length;
  const confusion = new Float64Array(L * L);
  present.forEach((t, a) => {
    present.forEach((p, b) => {
      confusion[a * L + b] = all[t * C + p];
    });
  });
  const binary = C === 2;
  const labels = present.map((id) => classes[id]);
  const layout: ClassificationLayout = {
    binary,
    labels,
    positive: binary ? present.indexOf(stats.positiveIndex) : -1,
    positiveName: classes[stats.positiveIndex] ?? '',
    scored: stats.scores ? stats.scores.runs.map((r) => classes[r.classId]) : null,
    noScores: stats.noScores,
  };
  const totals: ClassificationTotals = {
    weight: stats.rows,
    confusion,
    loss: stats.scores?.lossSum ?? 0,
    ranking: stats.scores?.runs.map(rankingFromRuns) ?? [],
  };
  const notes: string[] = [];
  const metrics = classificationFromSums(layout, totals, notes);
  const perLabel = labelStats(confusion, L);
  return {
    metrics,
    perClass: labels.map((label, l) => ({
      label,
      precision: perLabel.precision[l],
      recall: perLabel.recall[l],
      f1: perLabel.f1[l],
      support: perLabel.support[l],
    })),
    confusionMatrix: {
      labels,
      matrix: labels.map((_, t) => Array.from(confusion.subarray(t * L, (t + 1) * L))),
    },
    notes,
  };
}

/**
 * The statistics of the union of disjoint sets of rows. The parts must share the classes the model scores
 * and the positive class (a RangeError otherwise); labels only the data has are matched by name. `order`
 * fixes the class space of the result, when it must be the same as other merges' (a superset of the parts').
 */
export function mergeClassificationStatistics(
  parts: readonly ClassificationStatistics[],
  order?: readonly string[],
): ClassificationStatistics {
  const [first] = parts;
  const k = first.scoreClasses;
  const scored = first.classes.slice(0, k);
  for (const part of parts) {
    const same =
      part.scoreClasses === k &&
      part.positiveIndex === first.positiveIndex &&
      part.classes.slice(0, k).every((c, i) => c === scored[i]);
    if (!same)
      throw new RangeError('statistics of different scored classes or positive classes do not merge');
  }
  // Labels the model does not score follow in the order they were met, as they do in one evaluation.
  const classes = [...(order ?? scored)];
  for (const part of parts) for (const c of part.classes.slice(k)) if (!classes.includes(c)) classes.push(c);
  if (classes.slice(0, k).some((c, i) => c !== scored[i]))
    throw new RangeError('the class order must start with the scored classes');
  const C = classes.length;
  const confusion = new Float64Array(C * C);
  for (const part of parts) {
    const id = part.classes.map((c) => classes.indexOf(c));
    const n = part.classes.length;
    for (let t = 0; t < n; t++)
      for (let p = 0; p < n; p++) confusion[id[t] * C + id[p]] += part.confusion[t * n + p];
  }
  const unscored = parts.find((part) => part.scores === null);
  return {
    classes,
    scoreClasses: k,
    positiveIndex: first.positiveIndex,
    rows: parts.reduce((n, part) => n + part.rows, 0),
    confusion,
    scores: unscored
      ? null
      : {
          float32: parts.every((part) => part.scores!.float32),
          lossSum: parts.reduce((total, part) => total + part.scores!.lossSum, 0),
          runs: first.scores!.runs.map((_, c) => parts.map((part) => part.scores!.runs[c]).reduce(mergeRuns)),
        },
    noScores: unscored?.noScores ?? '',
  };
}

/** Two run-length lists as one: a score in both adds its counts, which is what ties across shards are. */
function mergeRuns(a: ScoreRuns, b: ScoreRuns): ScoreRuns {
  const na = a.scores.length;
  const nb = b.scores.length;
  const scores = new Float64Array(na + nb);
  const positives = new Float64Array(na + nb);
  const negatives = new Float64Array(na + nb);
  let i = 0;
  let j = 0;
  let g = 0;
  while (i < na || j < nb) {
    const score = j === nb ? a.scores[i] : i === na ? b.scores[j] : Math.max(a.scores[i], b.scores[j]);
    if (i < na && a.scores[i] === score) {
      positives[g] += a.positives[i];
      negatives[g] += a.negatives[i++];
    }
    if (j < nb && b.scores[j] === score) {
      positives[g] += b.positives[j];
      negatives[g] += b.negatives[j++];
    }
    scores[g++] = score;
  }
  return {
    classId: a.classId,
    scores: scores.slice(0, g),
    positives: positives.slice(0, g),
    negatives: negatives.slice(0, g),
  };
}

/** A sorted column as its tie groups: the score of each and how many positive and negative rows it holds. */
function scoreRuns(column: ScoreColumn, proba: Float32Array | Float64Array, k: number): ScoreRuns {
  const { order, flags, classId } = column;
  let groups = 0;
  for (let at = 0; at < flags.length; at++) groups += flags[at] >> 1;
  const runs = {
    classId,
    scores: new Float64Array(groups),
    positives: new Float64Array(groups),
    negatives: new Float64Array(groups),
  };
  for (let at = 0, g = 0; at < flags.length; at++) {
    const f = flags[at];
    if (f & 1) runs.positives[g]++;
    else runs.negatives[g]++;
    // + 0: -0 and +0 are one score, as they are one tie group.
    if (f & 2) runs.scores[g++] = proba[order[at] * k + classId] + 0;
  }
  return runs;
}

/** The ranking sums of a run-length list, walked from the highest score down. */
function rankingFromRuns(runs: ScoreRuns): RankingSums {
  const ranking: RankingSums = { positives: 0, negatives: 0, area: 0, precision: 0 };
  for (let g = 0; g < runs.scores.length; g++) addTieGroup(ranking, runs.positives[g], runs.negatives[g]);
  return ranking;
}

/**
 * Adds the next group of tied scores, walking down from the highest, to the ranking sums: the one place
 * both the weighted walk of the bootstrap and the run-length lists of the statistics go through.
 */
function addTieGroup(r: RankingSums, groupPositives: number, groupNegatives: number): void {
  r.area += groupNegatives * (r.positives + groupPositives / 2);
  r.positives += groupPositives;
  r.negatives += groupNegatives;
  // Branch-free: a group without positives adds 0, and the max only guards 0 / 0 before any weight.
  r.precision += groupPositives * (r.positives / Math.max(r.positives + r.negatives, 1));
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
    scored: scores ? scores.columns.map((c) => c.label) : null,
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
  return { order, flags, classId: column, label };
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
  const ranking = sums.ranking[column];
  Object.assign(ranking, { positives: 0, negatives: 0, area: 0, precision: 0 });
  let lossSum = 0;
  let groupPositives = 0;
  let groupWeight = 0;
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
      addTieGroup(ranking, groupPositives, groupWeight - groupPositives);
      groupPositives = 0;
      groupWeight = 0;
    }
  }
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
  prepared: ClassificationLayout,
  sums: ClassificationTotals,
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

function labelMetrics(prepared: ClassificationLayout, confusion: Float64Array, notes: string[] | null) {
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
  prepared: ClassificationLayout,
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

function scoreMetrics(prepared: ClassificationLayout, sums: ClassificationTotals, notes: string[] | null) {
  const { scored } = prepared;
  if (!scored) {
    notes?.push(prepared.noScores);
    return { roc_auc: null, pr_auc: null, log_loss: null };
  }
  // Mann-Whitney form of the ROC area; undefined (NaN) without both classes.
  const auc = sums.ranking.map((r) =>
    r.positives > 0 && r.negatives > 0 ? r.area / (r.positives * r.negatives) : NaN,
  );
  // sklearn's average_precision_score: recall steps times precision. Without positives sklearn warns and
  // returns 0, and the class still counts in the macro mean.
  const ap = sums.ranking.map((r) => (r.positives > 0 ? r.precision / r.positives : NaN));
  if (notes) {
    const oneClass = scored.filter((_, c) => Number.isNaN(auc[c]));
    if (oneClass.length > 0) {
      notes.push(
        scored.length === 1
          ? 'roc_auc is undefined: y_true holds only one class.'
          : `roc_auc (one-vs-rest) is undefined: class ${oneClass.join(', ')} is absent from y_true or is all of it.`,
      );
    }
    const noPositives = scored.filter((_, c) => Number.isNaN(ap[c]));
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
