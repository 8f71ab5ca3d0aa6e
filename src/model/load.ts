import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { InferenceSession } from 'onnxruntime-node';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logging.js';
import { loadOnnxRuntime } from '../native/index.js';
import { type ModelInfo, NotOnnxError, parseModel, withExtraOutput } from './onnx.js';
import { type OutputPlan, planOutputs } from './outputs.js';
import { customDomains, externalDataOutside } from './safety.js';

export interface LoadedModel {
  path: string;
  /** Which input named the model: `model` or `baseline-model`. */
  input: string;
  info: ModelInfo;
  session: InferenceSession;
  outputs: OutputPlan;
  sizeBytes: number;
  /** Of the file's bytes: names the model exactly in reports, and tells shards of one model apart from others. */
  sha256: string;
}

export interface LoadOptions {
  threads?: number;
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Execution providers in order of preference; onnxruntime runs what they cannot on the CPU. */
  providers?: ('cpu' | 'cuda')[];
  /**
   * Whether idle intra-op threads spin. Off by default: spinning threads fight DuckDB's readers (and each
   * other on shared CI runners) for the cores; measured on 2 cores, not spinning is up to 2x faster end to
   * end. A latency benchmark turns it on, as a serving process runs.
   */
  spinning?: boolean;
}

/** Reads, checks and opens an ONNX model; every refusal is a ConfigurationError naming the input and file. */
export async function loadModel(
  path: string,
  input: string,
  logger: Logger,
  options: LoadOptions = {},
): Promise<LoadedModel> {
  const where = `input "${input}" (${path})`;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT'
        ? 'file not found'
        : code === 'EISDIR'
          ? 'is a directory, not a .onnx file'
          : `cannot read (${code})`;
    throw new ConfigurationError(`${what}; check the path`, where);
  }
  let info: ModelInfo;
  try {
    info = parseModel(bytes);
  } catch (e) {
    if (e instanceof NotOnnxError) {
      throw new ConfigurationError(
        `${e.message}; give a model exported to ONNX (torch.onnx.export, skl2onnx, tf2onnx)`,
        where,
      );
    }
    throw e;
  }
  checkDomains(info, where);
  checkExternalData(info, path, where);

  const outputs = planOutputs(info);
  // The probabilities of skl2onnx classifiers sit behind ZipMap, whose seq(map) onnxruntime-node
  // cannot return: expose ZipMap's input tensor as an extra graph output instead.
  const exposeProbabilities = outputs.probabilities?.hidden === true && info.externalData.length === 0;
  if (outputs.probabilities?.hidden && !exposeProbabilities) {
    logger.warning(
      `${path}: probabilities sit behind ZipMap in a model with external data; only labels are used`,
    );
    outputs.probabilities = undefined;
  }
  const ort = await loadOnnxRuntime(logger);
  const sessionOptions: InferenceSession.SessionOptions = {
    graphOptimizationLevel: options.graphOptimization ?? 'all',
    executionProviders: options.providers ?? ['cpu'],
    extra: { session: { intra_op: { allow_spinning: options.spinning ? '1' : '0' } } },
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  };
  let session: InferenceSession;
  try {
    session =
      info.externalData.length > 0
        ? await ort.InferenceSession.create(path, sessionOptions)
        : await ort.InferenceSession.create(
            exposeProbabilities ? withExtraOutput(bytes, outputs.probabilities!.name) : bytes,
            sessionOptions,
          );
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new ConfigurationError(`onnxruntime cannot load the model: ${message}`, where);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { path, input, info, session, outputs, sizeBytes: bytes.length, sha256 };
}

function checkDomains(info: ModelInfo, where: string) {
  const [first] = customDomains(info);
  if (first) {
    const ops = first.ops.join(', ');
    throw new ConfigurationError(
      `uses operator domain "${first.domain}"${ops ? ` (${ops})` : ''}, which onnxruntime does not provide: it needs a custom-op library, and mlgate loads none. Export the model with standard operators`,
      where,
    );
  }
}

/** External-data locations must stay inside the model's directory: a model file must not read /etc/passwd. */
function checkExternalData(info: ModelInfo, path: string, where: string) {
  const [first] = externalDataOutside(info, path);
  if (first) {
    throw new ConfigurationError(
      `tensor "${first.tensor}" keeps its data at "${first.location}", outside the model's directory; refused. External data must sit beside the model`,
      where,
    );
  }
}

/** Whether the path resolves, through a symbolic link at any level, to somewhere outside `dir`. */
