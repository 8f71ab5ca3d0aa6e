import { encodeBytesField, type Field, fields, ints, ProtobufError, text } from './protobuf.js';

/** ONNX TensorProto.DataType names for the element types mlgate feeds or reads. */
export const ElemType: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
};

export interface ValueInfo {
  name: string;
  /** 'tensor', 'sequence', 'map' or 'unknown' (no type recorded). */
  kind: 'tensor' | 'sequence' | 'map' | 'unknown';
  elemType?: string;
  /** Dimensions: a number when fixed, the symbolic name (or null) when dynamic. */
  shape?: (number | string | null)[];
}

export interface NodeInfo {
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, Field>;
}

export interface ModelInfo {
  irVersion: number;
  producer: string;
  opsets: { domain: string; version: number }[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Nodes of the main graph and of every subgraph and function, for domain and label checks. */
  nodes: NodeInfo[];
  /** Initializers whose data lives in another file, with the location the model gives. */
  externalData: { tensor: string; location: string }[];
  /** Every initializer (subgraphs' too) with the bytes its elements take, inline or external. */
  initializers: { name: string; bytes: number }[];
}

export class NotOnnxError extends Error {}

export function parseModel(bytes: Uint8Array): ModelInfo {
  const info: ModelInfo = {
    irVersion: 0,
    producer: '',
    opsets: [],
    inputs: [],
    outputs: [],
    nodes: [],
    externalData: [],
    initializers: [],
  };
  let sawGraph = false;
  try {
    for (const f of fields(bytes)) {
      if (f.number === 1 && f.wireType === 0) info.irVersion = f.int;
      else if (f.number === 2 && f.wireType === 2) info.producer = text(f);
      else if (f.number === 8 && f.wireType === 2) info.opsets.push(opset(f.bytes));
      else if (f.number === 7 && f.wireType === 2) {
        sawGraph = true;
        readGraph(f.bytes, info, true);
      } else if (f.number === 20 && f.wireType === 2) readFunction(f.bytes, info);
    }
  } catch (e) {
    if (e instanceof ProtobufError) throw new NotOnnxError(`not an ONNX model (${e.message})`);
    throw e;
  }
  if (!sawGraph || info.irVersion === 0) throw new NotOnnxError('not an ONNX model (no graph or IR version)');
  return info;
}

function opset(bytes: Uint8Array) {
  const result = { domain: '', version: 0 };
  for (const f of fields(bytes)) {
    if (f.number === 1) result.domain = text(f);
    else if (f.number === 2) result.version = f.int;
  }
  return result;
}

function readGraph(bytes: Uint8Array, info: ModelInfo, main: boolean) {
  for (const f of fields(bytes)) {
    if (f.wireType !== 2) continue;
    if (f.number === 1) info.nodes.push(readNode(f.bytes, info));
    else if (f.number === 5) readInitializer(f.bytes, info);
    else if (main && f.number === 11) info.inputs.push(readValueInfo(f.bytes));
    else if (main && f.number === 12) info.outputs.push(readValueInfo(f.bytes));
  }
  if (main) {
    // Initializers may also be listed as graph inputs (IR < 4); they are not fed by the user.
    const initialized = new Set(initializerNames(bytes));
    info.inputs = info.inputs.filter((i) => !initialized.has(i.name));
  }
}

function initializerNames(graph: Uint8Array): string[] {
  const names: string[] = [];
  for (const f of fields(graph)) {
    if (f.number !== 5 || f.wireType !== 2) continue;
    for (const t of fields(f.bytes)) if (t.number === 8) names.push(text(t));
  }
  return names;
}

function readFunction(bytes: Uint8Array, info: ModelInfo) {
  for (const f of fields(bytes))
    if (f.number === 7 && f.wireType === 2) info.nodes.push(readNode(f.bytes, info));
}

function readNode(bytes: Uint8Array, info: ModelInfo): NodeInfo {
  const node: NodeInfo = { opType: '', domain: '', inputs: [], outputs: [], attributes: new Map() };
  for (const f of fields(bytes)) {
    if (f.number === 1) node.inputs.push(text(f));
    else if (f.number === 2) node.outputs.push(text(f));
    else if (f.number === 4) node.opType = text(f);
    else if (f.number === 7) node.domain = text(f);
    else if (f.number === 5) {
      let name = '';
      for (const a of fields(f.bytes)) {
        if (a.number === 1) name = text(a);
        // Subgraphs (If/Loop/Scan bodies) can hold nodes of other domains and external tensors too.
        else if ((a.number === 6 || a.number === 11) && a.wireType === 2) readGraph(a.bytes, info, false);
        else if ((a.number === 5 || a.number === 10) && a.wireType === 2) readInitializer(a.bytes, info);
      }
      node.attributes.set(name, f);
    }
  }
  return node;
}

function readInitializer(bytes: Uint8Array, info: ModelInfo) {
  let name = '';
  let location: string | undefined;
  let externalLength: number | undefined;
  let external = false;
  let dataType = 0;
  let elements = 1;
  let stored = 0;
  for (const f of fields(bytes)) {
    if (f.number === 8) name = text(f);
    else if (f.number === 1) for (const d of ints(f)) elements *= d;
    else if (f.number === 2 && f.wireType === 0) dataType = f.int;
    else if (f.number === 14 && f.wireType === 0) external = f.int === 1;
    else if (f.number === 13 && f.wireType === 2) {
      let key = '';
      let value = '';
      for (const kv of fields(f.bytes)) {
        if (kv.number === 1) key = text(kv);
        else if (kv.number === 2) value = text(kv);
      }
      if (key === 'location') location = value;
      else if (key === 'length') externalLength = Number(value);
    } else if (f.wireType === 2 && TENSOR_DATA_FIELDS.has(f.number)) stored += f.bytes.length;
  }
  if (external || location !== undefined) info.externalData.push({ tensor: name, location: location ?? '' });
  const itemBits = ELEMENT_BITS[dataType];
  const declared = itemBits === undefined ? undefined : Math.ceil((elements * itemBits) / 8);
  info.initializers.push({ name, bytes: declared ?? externalLength ?? stored });
}

/** TensorProto fields that carry the elements inline: float, int32, string, int64, raw, double, uint64. */
const TENSOR_DATA_FIELDS = new Set([4, 5, 6, 7, 9, 10, 11]);

/** Bits per element by TensorProto.DataType; strings (8) have no fixed size. */
const ELEMENT_BITS: Record<number, number> = {
  1: 32,
  2: 8,
  3: 8,
  4: 16,
  5: 16,
  6: 32,
  7: 64,
  9: 8,
  10: 16,
  11: 64,
  12: 32,
  13: 64,
  14: 64,
  15: 128,
  16: 16,
  17: 8,
  18: 8,
  19: 8,
  20: 8,
  21: 4,
  22: 4,
};

function readValueInfo(bytes: Uint8Array): ValueInfo {
  const vi: ValueInfo = { name: '', kind: 'unknown' };
  for (const f of fields(bytes)) {
    if (f.number === 1) vi.name = text(f);
    else if (f.number === 2 && f.wireType === 2) {
      for (const t of fields(f.bytes)) {
        if (t.number === 1 && t.wireType === 2) {
          vi.kind = 'tensor';
          readTensorType(t.bytes, vi);
        } else if (t.number === 4) vi.kind = 'sequence';
        else if (t.number === 5) vi.kind = 'map';
      }
    }
  }
  return vi;
}

function readTensorType(bytes: Uint8Array, vi: ValueInfo) {
  for (const f of fields(bytes)) {
    if (f.number === 1 && f.wireType === 0) vi.elemType = ElemType[f.int] ?? `type${f.int}`;
    else if (f.number === 2 && f.wireType === 2) {
      vi.shape = [];
      for (const d of fields(f.bytes)) {
        if (d.number !== 1 || d.wireType !== 2) continue;
        let dim: number | string | null = null;
        for (const x of fields(d.bytes)) {
          if (x.number === 1 && x.wireType === 0) dim = x.int;
          else if (x.number === 2 && x.wireType === 2) dim = text(x);
        }
        vi.shape.push(dim);
      }
    }
  }
}

/** An attribute's value as ints or strings (e.g. a classifier's classlabels_int64s / classlabels_strings). */
export function attributeList(node: NodeInfo, name: string): (number | string)[] | undefined {
  const attr = node.attributes.get(name);
  if (!attr) return undefined;
  const values: (number | string)[] = [];
  for (const f of fields(attr.bytes)) {
    if (f.number === 8) values.push(...ints(f));
    else if (f.number === 9 && f.wireType === 2) values.push(text(f));
  }
  return values;
}

/**
 * Returns the model with `name` added as a graph output. Protobuf merges a repeated occurrence of an
 * embedded message field into the first, so appending a GraphProto that holds only the new output
 * is the same as editing the graph: no re-encoding of the (possibly large) weights.
 */
export function withExtraOutput(model: Uint8Array, name: string): Uint8Array {
  const valueInfo = encodeBytesField(1, new TextEncoder().encode(name));
  const graph = encodeBytesField(12, valueInfo);
  const patch = encodeBytesField(7, graph);
  const out = new Uint8Array(model.length + patch.length);
  out.set(model, 0);
  out.set(patch, model.length);
  return out;
}
