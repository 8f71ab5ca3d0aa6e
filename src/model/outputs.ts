import { attributeList, type ModelInfo, type NodeInfo, type ValueInfo } from './onnx.js';

/** Where a model's answers are: which outputs to fetch and what they mean, read off the graph. */
export interface OutputPlan {
  /** Predicted labels (skl2onnx `output_label`): int64 or string tensor. */
  label?: { name: string; elemType: string };
  /** Class probabilities [N, C]; `hidden` when they only exist as ZipMap's input tensor. */
  probabilities?: { name: string; hidden: boolean };
  /** A single float output: logits/probabilities [N, C], a binary score [N, 1] or [N], or a regression value. */
  scores?: { name: string; width: number | null; producer?: string };
  /** Class labels the model declares (ZipMap / classifier attributes), as strings. */
  classLabels?: string[];
}

const CLASSIFIERS = new Set(['TreeEnsembleClassifier', 'LinearClassifier', 'SVMClassifier']);
const LABEL_TYPES = new Set(['int64', 'int32', 'string']);
const FLOAT_TYPES = new Set(['float32', 'float64', 'float16']);

export function planOutputs(info: ModelInfo): OutputPlan {
  const plan: OutputPlan = {};
  const zipmap = info.nodes.find((n) => n.opType === 'ZipMap' && n.domain === 'ai.onnx.ml');
  const classifier = info.nodes.find((n) => CLASSIFIERS.has(n.opType) && n.domain === 'ai.onnx.ml');
  plan.classLabels = labelsOf(zipmap) ?? labelsOf(classifier);

  const tensors = info.outputs.filter((o) => o.kind === 'tensor' || o.kind === 'unknown');
  const label = tensors.find((o) => o.elemType !== undefined && LABEL_TYPES.has(o.elemType));
  if (label) plan.label = { name: label.name, elemType: label.elemType! };

  const floats = tensors.filter((o) => o.elemType === undefined || FLOAT_TYPES.has(o.elemType));
  if (zipmap && info.outputs.some((o) => zipmap.outputs.includes(o.name))) {
    plan.probabilities = { name: zipmap.inputs[0], hidden: true };
  } else if (floats.length > 0 && (classifier || label)) {
    plan.probabilities = { name: floats[0].name, hidden: false };
  } else if (floats.length > 0) {
    const out = floats[0];
    plan.scores = { name: out.name, width: widthOf(out), producer: producerOf(info.nodes, out.name) };
  }
  return plan;
}

function labelsOf(node: NodeInfo | undefined): string[] | undefined {
  if (!node) return undefined;
  for (const attr of ['classlabels_int64s', 'classlabels_ints', 'classlabels_strings']) {
    const values = attributeList(node, attr);
    if (values && values.length > 0) return values.map(String);
  }
  return undefined;
}

/** Columns of a [N, C] output; 1 for [N] and [N, 1]; null when the width is dynamic. */
function widthOf(out: ValueInfo): number | null {
  if (!out.shape) return null;
  if (out.shape.length <= 1) return 1;
  const last = out.shape[out.shape.length - 1];
  return typeof last === 'number' ? last : null;
}

function producerOf(nodes: NodeInfo[], name: string): string | undefined {
  return nodes.find((n) => n.outputs.includes(name))?.opType;
}

/** Output names to fetch from onnxruntime (never a seq(map): onnxruntime-node cannot return one). */
export function fetchNames(plan: OutputPlan): string[] {
  return [plan.label?.name, plan.probabilities?.name, plan.scores?.name].filter((n): n is string =>
    Boolean(n),
  );
}
