/**
 * What a model file could make onnxruntime do beyond computing: load a custom-op library, or read
 * external data from outside the model's directory. Shared by loading (refused) and scan-image (reported),
 * and free of onnxruntime so a scan never loads a native engine.
 */
import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { ModelInfo } from './onnx.js';

/** Operator domains built into onnxruntime's CPU build; anything else needs a custom-op library. */
const KNOWN_DOMAINS = new Set([
  '',
  'ai.onnx',
  'ai.onnx.ml',
  'com.microsoft',
  'com.microsoft.nchwc',
  'ai.onnx.preview.training',
]);

/**
 * Operator domains onnxruntime's CPU build lacks, with the operators used from each: domains used by
 * nodes first, in node order, then those only imported. Running them takes a custom-op library, that is
 * native code the model brings along.
 */
export function customDomains(info: ModelInfo): { domain: string; ops: string[] }[] {
  const used = info.nodes.filter((n) => !KNOWN_DOMAINS.has(n.domain));
  const imported = info.opsets.map((o) => o.domain).filter((d) => !KNOWN_DOMAINS.has(d));
  const domains = [...new Set([...used.map((n) => n.domain), ...imported])];
  return domains.map((domain) => ({
    domain,
    ops: [...new Set(used.filter((n) => n.domain === domain).map((n) => n.opType))],
  }));
}

/**
 * The initializers of the model at `path` whose external data lies outside the model's directory: an
 * empty or absolute location, one that climbs out with `..`, or one that resolves through a symbolic
 * link to somewhere else.
 */
export function externalDataOutside(info: ModelInfo, path: string): { tensor: string; location: string }[] {
  const dir = resolve(dirname(path));
  return info.externalData.filter(({ location }) => {
    const target = resolve(dir, location);
    const rel = relative(dir, target);
    const escapes =
      location === '' ||
      isAbsolute(location) ||
      rel.startsWith(`..${sep}`) ||
      rel === '..' ||
      isAbsolute(rel);
    return escapes || linksOutside(target, dir);
  });
}

function linksOutside(target: string, dir: string): boolean {
  let real: string;
  try {
    real = realpathSync(target);
  } catch {
    return false; // a missing file is onnxruntime's error to report
  }
  return !real.startsWith(realpathSync(dir) + sep);
}
