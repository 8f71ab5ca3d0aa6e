import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { gunzipSync, inflateRawSync, inflateSync, constants as zlibConstants } from 'node:zlib';
import { ConfigurationError } from '../errors.js';
import { type ModelInfo, NotOnnxError, parseModel } from '../model/onnx.js';
import { customDomains, externalDataOutside } from '../model/safety.js';
import type { Finding } from './findings.js';
import {
  analyzePickle,
  type ByteSource,
  bufferSource,
  malformedFinding,
  type PickleAnalysis,
  type PickleWhere,
  pickleFindings,
} from './pickle.js';

/**
 * Scans model files before release without loading them: pickles in every container they come in
 * (raw and joblib pickles, PyTorch zip and legacy files, .npy and .npz) and ONNX models.
 */

export interface ModelScanOptions {
  /** An ONNX initializer above this many bytes is reported; 2 GiB unless set. */
  maxInitializerBytes?: number;
}

export interface ModelScanResult {
  findings: Finding[];
  scanned: { path: string; format: string }[];
}

const DEFAULT_MAX_INITIALIZER_BYTES = 2 * 1024 ** 3;

const PICKLE_EXTENSIONS = new Set(['.pkl', '.pickle', '.joblib', '.dill']);
const TORCH_EXTENSIONS = new Set(['.pt', '.pth', '.ckpt', '.bin']);
const MODEL_EXTENSIONS = new Set([...PICKLE_EXTENSIONS, ...TORCH_EXTENSIONS, '.npy', '.npz', '.onnx']);

/** Scans files, and directories recursively for files with a model extension; findings in path order. */
export async function scanModelFiles(
  paths: string[],
  options: ModelScanOptions = {},
): Promise<ModelScanResult> {
  const result: ModelScanResult = { findings: [], scanned: [] };
  for (const path of paths.flatMap(expand)) {
    const { format, findings } = scanFile(path, options);
    result.scanned.push({ path, format });
    result.findings.push(...findings);
  }
  return result;
}

function expand(path: string): string[] {
  const stat = statOrThrow(path);
  if (!stat.isDirectory()) return [path];
  const files: string[] = [];
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const full = join(path, entry.name);
    // Symbolic links to directories are not followed: a link loop must not hang the scan.
    if (entry.isDirectory()) files.push(...expand(full));
    else if (MODEL_EXTENSIONS.has(extname(entry.name).toLowerCase()) && statOrThrow(full).isFile()) {
      files.push(full);
    }
  }
  return files;
}

function statOrThrow(path: string) {
  try {
    return statSync(path);
  } catch (e) {
    throw unreadable(path, e);
  }
}

function unreadable(path: string, e: unknown): ConfigurationError {
  const code = (e as NodeJS.ErrnoException).code;
  const what = code === 'ENOENT' ? 'file or directory not found' : `cannot read (${code ?? String(e)})`;
  return new ConfigurationError(`${what}; check the path`, path);
}

interface FileScan {
  format: string;
  findings: Finding[];
}

function scanFile(path: string, options: ModelScanOptions): FileScan {
  const ext = extname(path).toLowerCase();
  if (ext === '.onnx') return scanOnnx(path, options);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw unreadable(path, e);
  }
  try {
    return scanBytes(new FileSource(fd, fstatSync(fd).size), path, ext);
  } finally {
    closeSync(fd);
  }
}

function scanBytes(src: ByteSource, path: string, ext: string): FileScan {
  const where = { target: path };
  const head = src.read(0, 8);
  if (startsWith(head, ZIP_MAGIC) || startsWith(head, EMPTY_ZIP_MAGIC)) return scanZip(src, where, ext);
  if (startsWith(head, NUMPY_MAGIC)) return { format: 'numpy', findings: scanNpy(src, where) };
  if (TORCH_EXTENSIONS.has(ext)) return scanTorchLegacy(src, where, ext);
  const compressed = compression(head);
  if (compressed) return scanCompressed(src, where, compressed);
  const stream = scanPickleStream(src, where);
  const format = ext === '.npy' ? 'numpy (a pickle)' : stream.joblib ? 'joblib' : 'pickle';
  return { format, findings: stream.findings };
}

// ---------------------------------------------------------------- pickles

/**
 * Every pickle in the data, one after another, as a loader that calls pickle.load repeatedly would read
 * them; `limit` stops after that many (the legacy PyTorch format's raw storage bytes follow its pickles).
 */
function scanPickleStream(src: ByteSource, where: PickleWhere, start = 0, limit = Number.POSITIVE_INFINITY) {
  const analyses: PickleAnalysis[] = [];
  for (let pos = start; pos < src.length && analyses.length < limit; ) {
    const analysis = analyzePickle(src, pos);
    analyses.push(analysis);
    if (analysis.error) break;
    pos = analysis.end;
  }
  if (analyses.length === 0) analyses.push(analyzePickle(src, start)); // an empty file is malformed
  return { analyses, findings: pickleFindings(analyses, where), joblib: analyses.some((a) => a.joblib) };
}

const LEGACY_TORCH_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * torch.save's legacy format: pickles of the magic number, the protocol version and system info, then
 * the object, then the storage keys, then raw storage bytes that are not pickle. A `.bin` that is
 * neither zip nor pickle (ONNX external data, other frameworks' weights) is not PyTorch's to load.
 */
function scanTorchLegacy(src: ByteSource, where: PickleWhere, ext: string): FileScan {
  const first = analyzePickle(src, 0);
  const magic = first.result?.kind === 'int' && BigInt(first.result.int) === LEGACY_TORCH_MAGIC;
  if (!magic && ext === '.bin' && first.error && first.imports.length === 0 && src.read(0, 1)[0] !== 0x80) {
    return { format: 'binary (not a pickle)', findings: [] };
  }
  const stream = scanPickleStream(src, where, 0, magic ? 5 : Number.POSITIVE_INFINITY);
  return { format: magic ? 'pytorch (legacy)' : 'pickle', findings: stream.findings };
}

type Compression = 'zlib' | 'gzip' | 'bz2' | 'xz' | 'lzma' | 'lz4';

/** joblib.dump(compress=...) compresses the whole pickle; these are the formats joblib recognises. */
function compression(head: Uint8Array): Compression | undefined {
  if (head[0] === 0x78 && ((head[0] << 8) | head[1]) % 31 === 0) return 'zlib';
  if (startsWith(head, [0x1f, 0x8b])) return 'gzip';
  if (startsWith(head, [0x42, 0x5a, 0x68])) return 'bz2';
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a])) return 'xz';
  if (startsWith(head, [0x5d, 0x00])) return 'lzma';
  if (startsWith(head, [0x04, 0x22, 0x4d, 0x18])) return 'lz4';
  return undefined;
}

function scanCompressed(src: ByteSource, where: PickleWhere, kind: Compression): FileScan {
  const format = `joblib (${kind})`;
  if (kind !== 'zlib' && kind !== 'gzip') {
    return {
      format,
      findings: [malformedFinding(where, `compressed with ${kind}, which mlgate cannot read`)],
    };
  }
  let bytes: Uint8Array;
  try {
    const data = src.read(0, src.length);
    bytes = kind === 'zlib' ? inflateSync(data) : gunzipSync(data);
  } catch (e) {
    return {
      format,
      findings: [malformedFinding(where, `${kind} data is corrupt: ${(e as Error).message}`)],
    };
  }
  return { format, findings: scanPickleStream(bufferSource(bytes), where).findings };
}

// ---------------------------------------------------------------- .npy

const NUMPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** An .npy holds raw array bytes, unless its dtype has objects: then the payload is a pickle. */
function scanNpy(src: ByteSource, where: PickleWhere): Finding[] {
  const header = npyHeader(src);
  if (typeof header === 'string') return [malformedFinding(where, header)];
  if (!hasObject(header.descr)) return [];
  return scanPickleStream(src, where, header.end).findings;
}

function npyHeader(src: ByteSource): { descr: unknown; end: number } | string {
  const head = src.read(0, 12);
  if (head.length < 10 || !startsWith(head, NUMPY_MAGIC)) return 'not an .npy file';
  const major = head[6];
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const [start, length] =
    major === 1 ? [10, view.getUint16(8, true)] : [12, head.length >= 12 ? view.getUint32(8, true) : -1];
  if (major < 1 || major > 3 || length < 0 || start + length > src.length) return '.npy header is truncated';
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(src.read(start, length));
  const dict = parsePythonLiteral(text);
  if (
    dict === undefined ||
    typeof dict !== 'object' ||
    dict === null ||
    Array.isArray(dict) ||
    !('descr' in dict)
  ) {
    return '.npy header is not a dictionary with a descr';
  }
  return { descr: dict.descr, end: start + length };
}

/** numpy's dtype.hasobject from a header's descr: an 'O' type string, or a structured type holding one. */
function hasObject(descr: unknown): boolean {
  if (typeof descr === 'string') return /^[<>|=]?O/.test(descr);
  // Structured: [(name, dtype) or (name, dtype, shape), ...].
  if (Array.isArray(descr)) return descr.some((f) => Array.isArray(f) && hasObject(f[1]));
  return false;
}

type PyLiteral = string | number | boolean | null | PyLiteral[] | { [key: string]: PyLiteral };

/** The Python literals an .npy header uses: dicts, tuples, lists, strings, integers, True/False/None. */
function parsePythonLiteral(text: string): PyLiteral | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const value = (): PyLiteral => {
    ws();
    const c = text[i];
    if (c === '{' || c === '(' || c === '[') {
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      i++;
      const items: PyLiteral[] = [];
      const dict: { [key: string]: PyLiteral } = {};
      for (ws(); text[i] !== close; ws()) {
        const item = value();
        ws();
        if (c === '{') {
          if (text[i++] !== ':') throw new Error('expected :');
          dict[String(item)] = value();
          ws();
        } else items.push(item);
        if (text[i] === ',') i++;
        else if (text[i] !== close) throw new Error(`expected , or ${close}`);
      }
      i++;
      return c === '{' ? dict : items;
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new Error('unterminated string');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const word = /^[\w.+-]+/.exec(text.slice(i))?.[0] ?? '';
    i += word.length;
    if (word === 'True' || word === 'False') return word === 'True';
    if (word === 'None') return null;
    const n = Number(word.replace(/L$/, ''));
    if (word === '' || Number.isNaN(n)) throw new Error(`unexpected ${JSON.stringify(word || text[i])}`);
    return n;
  };
  try {
    const v = value();
    ws();
    return i === text.length ? v : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- zip (PyTorch, .npz)

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const EMPTY_ZIP_MAGIC = [0x50, 0x4b, 0x05, 0x06];

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  headerOffset: number;
}

class ZipError extends Error {}

/**
 * The pickles and .npy members of a zip: `*.pkl` is what torch.load unpickles (data.pkl; TorchScript's
 * constants.pkl), `*.npy` what numpy.load reads from an .npz. Tensor data members are raw bytes.
 */
function scanZip(src: ByteSource, where: PickleWhere, ext: string): FileScan {
  const format = ext === '.npz' ? 'numpy (npz)' : TORCH_EXTENSIONS.has(ext) ? 'pytorch (zip)' : 'zip';
  let entries: ZipEntry[];
  try {
    entries = readCentralDirectory(src);
  } catch (e) {
    if (!(e instanceof ZipError)) throw e;
    return { format, findings: [malformedFinding(where, `zip archive is corrupt: ${e.message}`)] };
  }
  const findings: Finding[] = [];
  for (const entry of entries) {
    const member = entry.name.toLowerCase();
    const kind = PICKLE_EXTENSIONS.has(extname(member))
      ? 'pickle'
      : member.endsWith('.npy')
        ? 'npy'
        : undefined;
    if (!kind) continue;
    const at = { ...where, member: entry.name };
    try {
      if (kind === 'pickle') findings.push(...scanPickleStream(memberSource(src, entry), at).findings);
      else findings.push(...scanNpyMember(src, entry, at));
    } catch (e) {
      if (!(e instanceof ZipError)) throw e;
      findings.push(malformedFinding(at, e.message));
    }
  }
  return { format, findings };
}

/** Only an object array's payload is needed in full; a deflated member's header comes from its first bytes. */
function scanNpyMember(src: ByteSource, entry: ZipEntry, where: PickleWhere): Finding[] {
  if (entry.method === 8) {
    const header = npyHeader(bufferSource(inflatePrefix(src, entry)));
    if (typeof header !== 'string' && !hasObject(header.descr)) return [];
  }
  return scanNpy(memberSource(src, entry), where);
}

function readCentralDirectory(src: ByteSource): ZipEntry[] {
  const tailStart = Math.max(0, src.length - (22 + 0xffff));
  const tail = src.read(tailStart, src.length - tailStart);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0 && eocd < 0; i--) if (u32(tail, i) === 0x06054b50) eocd = i;
  if (eocd < 0) throw new ZipError('no end of central directory record');
  let count = u16(tail, eocd + 10);
  let size = u32(tail, eocd + 12);
  let offset = u32(tail, eocd + 16);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    // ZIP64 (torch writes it for files over 4 GiB): the locator just before the record points at the real one.
    const locator = src.read(tailStart + eocd - 20, 20);
    if (locator.length < 20 || u32(locator, 0) !== 0x07064b50) throw new ZipError('ZIP64 locator missing');
    const record = src.read(u64(locator, 8), 56);
    if (record.length < 56 || u32(record, 0) !== 0x06064b50) throw new ZipError('ZIP64 record missing');
    count = u64(record, 32);
    size = u64(record, 40);
    offset = u64(record, 48);
  }
  if (offset + size > src.length) throw new ZipError('central directory lies past the end of the file');
  const dir = src.read(offset, size);
  const entries: ZipEntry[] = [];
  for (let p = 0; entries.length < count; ) {
    if (p + 46 > dir.length || u32(dir, p) !== 0x02014b50)
      throw new ZipError('central directory entry is corrupt');
    const nameLength = u16(dir, p + 28);
    const extraLength = u16(dir, p + 30);
    const entry: ZipEntry = {
      name: new TextDecoder().decode(dir.subarray(p + 46, p + 46 + nameLength)),
      flags: u16(dir, p + 8),
      method: u16(dir, p + 10),
      compressedSize: u32(dir, p + 20),
      size: u32(dir, p + 24),
      headerOffset: u32(dir, p + 42),
    };
    applyZip64Extra(entry, dir.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength));
    entries.push(entry);
    p += 46 + nameLength + extraLength + u16(dir, p + 32);
  }
  return entries;
}

/** Sizes and offsets that do not fit 32 bits sit in the ZIP64 extra field, in this order. */
function applyZip64Extra(entry: ZipEntry, extra: Uint8Array) {
  for (let p = 0; p + 4 <= extra.length; p += 4 + u16(extra, p + 2)) {
    if (u16(extra, p) !== 0x0001) continue;
    let at = p + 4;
    for (const key of ['size', 'compressedSize', 'headerOffset'] as const) {
      if (entry[key] !== 0xffffffff) continue;
      entry[key] = u64(extra, at);
      at += 8;
    }
  }
}

function memberDataOffset(src: ByteSource, entry: ZipEntry): number {
  if (entry.flags & 1) throw new ZipError(`member ${entry.name} is encrypted`);
  const local = src.read(entry.headerOffset, 30);
  if (local.length < 30 || u32(local, 0) !== 0x04034b50)
    throw new ZipError(`member ${entry.name} has no local header`);
  const start = entry.headerOffset + 30 + u16(local, 26) + u16(local, 28);
  if (start + entry.compressedSize > src.length) throw new ZipError(`member ${entry.name} runs past the end`);
  return start;
}

function memberSource(src: ByteSource, entry: ZipEntry): ByteSource {
  const start = memberDataOffset(src, entry);
  if (entry.method === 0) return sliceSource(src, start, entry.size);
  if (entry.method !== 8) throw new ZipError(`member ${entry.name} uses compression method ${entry.method}`);
  try {
    return bufferSource(inflateRawSync(src.read(start, entry.compressedSize)));
  } catch (e) {
    throw new ZipError(`member ${entry.name} does not inflate: ${(e as Error).message}`);
  }
}

function inflatePrefix(src: ByteSource, entry: ZipEntry): Uint8Array {
  const start = memberDataOffset(src, entry);
  try {
    // A sync flush returns what the first compressed bytes decode to instead of failing on the cut.
    const head = src.read(start, Math.min(entry.compressedSize, 64 * 1024));
    return inflateRawSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  } catch (e) {
    throw new ZipError(`member ${entry.name} does not inflate: ${(e as Error).message}`);
  }
}

const u16 = (b: Uint8Array, p: number) => b[p] | (b[p + 1] << 8);
const u32 = (b: Uint8Array, p: number) => (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x1000000;
const u64 = (b: Uint8Array, p: number) => u32(b, p) + u32(b, p + 4) * 0x100000000;

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

// ---------------------------------------------------------------- byte sources

/** A file read through a window, so a pickle is walked byte by byte without many small reads. */
class FileSource implements ByteSource {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;

  constructor(
    private readonly fd: number,
    readonly length: number,
  ) {}

  read(pos: number, n: number): Uint8Array {
    const end = Math.min(this.length, pos + n);
    if (pos >= end) return new Uint8Array(0);
    const ws = this.windowStart;
    if (pos >= ws && end <= ws + this.window.length) return this.window.subarray(pos - ws, end - ws);
    if (end - pos > WINDOW) return this.fill(pos, end - pos);
    this.window = this.fill(pos, Math.min(WINDOW, this.length - pos));
    this.windowStart = pos;
    return this.window.subarray(0, end - pos);
  }

  private fill(pos: number, n: number): Uint8Array {
    const out = Buffer.allocUnsafe(n);
    let done = 0;
    while (done < n) {
      const got = readSync(this.fd, out, done, n - done, pos + done);
      if (got === 0) break;
      done += got;
    }
    return out.subarray(0, done);
  }
}

const WINDOW = 1024 * 1024;

function sliceSource(src: ByteSource, start: number, length: number): ByteSource {
  return {
    length,
    read: (pos, n) => (pos >= length ? new Uint8Array(0) : src.read(start + pos, Math.min(n, length - pos))),
  };
}

// ---------------------------------------------------------------- ONNX

function scanOnnx(path: string, options: ModelScanOptions): FileScan {
  let info: ModelInfo;
  try {
    info = parseModel(readFileSync(path));
  } catch (e) {
    if (e instanceof NotOnnxError) {
      const finding: Finding = {
        id: 'onnx-malformed',
        source: 'model',
        severity: 'HIGH',
        title: `${e.message}; a file the scan cannot read does not pass`,
        target: path,
      };
      return { format: 'onnx', findings: [finding] };
    }
    throw unreadable(path, e);
  }
  return { format: 'onnx', findings: onnxFindings(info, path, options) };
}

function onnxFindings(info: ModelInfo, path: string, options: ModelScanOptions): Finding[] {
  const findings: Finding[] = [];
  const model = { source: 'model', target: path } as const;
  for (const { tensor, location } of externalDataOutside(info, path)) {
    findings.push({
      ...model,
      id: 'onnx-external-data-escape',
      severity: 'CRITICAL',
      title: `initializer "${tensor}" reads its data from "${location}", outside the model's directory: loading the model reads that file`,
      location: `initializer ${tensor}`,
    });
  }
  for (const { domain, ops } of customDomains(info)) {
    findings.push({
      ...model,
      id: 'onnx-custom-domain',
      severity: 'HIGH',
      title: `uses operator domain "${domain}"${ops.length ? ` (${ops.join(', ')})` : ''}, which needs a custom-op library: native code shipped beside the model`,
      location: `domain ${domain}`,
    });
  }
  const limit = options.maxInitializerBytes ?? DEFAULT_MAX_INITIALIZER_BYTES;
  for (const { name, bytes } of info.initializers) {
    if (bytes <= limit) continue;
    findings.push({
      ...model,
      id: 'onnx-oversized-initializer',
      severity: 'MEDIUM',
      title: `initializer "${name}" takes ${bytes} bytes, above the limit of ${limit}: check that it is meant to`,
      location: `initializer ${name}`,
    });
  }
  return findings;
}
