import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/errors.js';
import type { Finding } from '../src/scan/findings.js';
import { scanModelFiles } from '../src/scan/model-files.js';
import {
  analyzePickle,
  type ByteSource,
  bufferSource,
  classifyGlobal,
  genops,
  OPCODE_NAMES,
  type PickleArg,
  pickleFindings,
} from '../src/scan/pickle.js';

// Fixtures come from scripts/fixtures/make_model_files.py: real pickles, joblib, PyTorch-layout and numpy
// files, harmless and malicious, with the findings each must produce. Nothing here unpickles anything.

const DIR = join(import.meta.dirname, 'fixtures', 'model-files');
const MODELS = join(import.meta.dirname, 'fixtures', 'models');

interface ExpectedFinding {
  id: string;
  severity: string;
  global?: string;
}
const expected: { files: Record<string, ExpectedFinding[]> } = JSON.parse(
  await readFile(join(DIR, 'expected.json'), 'utf8'),
);

type JsonArg = number | string | boolean | null | { int: string } | { float: string } | { hex: string };
const samples: {
  opcodeCount: number;
  samples: { name: string; protocol: number; pickle: string; ops: [string, number, JsonArg][] }[];
} = JSON.parse(await readFile(join(DIR, 'opcodes.json'), 'utf8'));

/** What a finding says, reduced to what expected.json pins: rule, severity, the global it names. */
function summary(f: Finding): ExpectedFinding {
  const global = /^pickle imports (\S+),/.exec(f.title)?.[1];
  return global ? { id: f.id, severity: f.severity, global } : { id: f.id, severity: f.severity };
}

const byText = (a: ExpectedFinding, b: ExpectedFinding) => JSON.stringify(a).localeCompare(JSON.stringify(b));

/** An argument as pickletools.genops gives it, in the JSON encoding of the fixture script. */
function asGenops(arg: PickleArg | undefined, src: ByteSource): JsonArg {
  if (arg === undefined || arg === null) return null;
  if (typeof arg === 'bigint') return { int: arg.toString() };
  if (typeof arg === 'number' && !Number.isFinite(arg)) return { float: String(arg) };
  if (Array.isArray(arg)) return arg.join(' ');
  if (typeof arg === 'object' && 'offset' in arg) {
    return { hex: Buffer.from(src.read(arg.offset, arg.length)).toString('hex') };
  }
  return arg as JsonArg;
}

describe('pickle disassembler', () => {
  it.each(samples.samples.map((s) => [s.name, s] as const))('reads %s as pickletools.genops does', (_, s) => {
    const src = bufferSource(Buffer.from(s.pickle, 'base64'));
    const ops = [...genops(src)].map((op) => [op.name, op.pos, asGenops(op.arg, src)]);
    expect(ops).toEqual(s.ops);
  });

  it('knows every opcode, and the samples use them all', () => {
    expect(OPCODE_NAMES).toHaveLength(samples.opcodeCount);
    const used = new Set(samples.samples.flatMap((s) => s.ops.map(([name]) => name)));
    expect([...used].sort()).toEqual([...OPCODE_NAMES].sort());
  });

  it('follows every sample through its STOP without losing the stack', () => {
    for (const s of samples.samples) {
      const bytes = Buffer.from(s.pickle, 'base64');
      const analysis = analyzePickle(bufferSource(bytes));
      expect(analysis.error, s.name).toBeUndefined();
      expect(analysis.end, s.name).toBe(bytes.length);
      expect(analysis.result?.kind, s.name).toMatch(/^(dict|seq)$/);
    }
  });

  it('never throws on cut or random bytes: what it cannot read becomes a finding', () => {
    const whole = Buffer.from(samples.samples[4].pickle, 'base64');
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % 256;
    };
    const inputs = [
      ...Array.from({ length: 200 }, (_, i) => whole.subarray(0, Math.floor((i * whole.length) / 200))),
      ...Array.from({ length: 300 }, () => Uint8Array.from({ length: 64 }, random)),
    ];
    for (const bytes of inputs) {
      const analysis = analyzePickle(bufferSource(bytes));
      const findings = pickleFindings([analysis], { target: 'fuzz' });
      if (analysis.error) expect(findings.map((f) => f.id)).toContain('pickle-malformed');
    }
  });
});

describe('pickle policy', () => {
  it.each([
    ['builtins', 'eval', 'CRITICAL'],
    ['__builtin__', 'getattr', 'CRITICAL'],
    ['builtins', 'eval.__call__', 'CRITICAL'],
    ['posix', 'system', 'CRITICAL'],
    ['os.path', 'join', 'CRITICAL'],
    ['numpy.testing._private.utils', 'runstring', 'CRITICAL'],
    ['sklearn.utils.validation', 'os.system', 'CRITICAL'],
    ['sklearn.base', 'BaseEstimator.__init__.__globals__', 'CRITICAL'],
    ['types', 'CodeType', 'CRITICAL'],
    ['_pickle', 'loads', 'CRITICAL'],
    ['webbrowser', 'open', 'CRITICAL'],
    ['functools', 'partial', 'HIGH'],
    ['torch', 'load', 'HIGH'],
    ['urllib.request', 'urlopen', 'HIGH'],
  ])('%s.%s is dangerous (%s)', (module, name, severity) => {
    expect(classifyGlobal(module, name)).toMatchObject({ kind: 'dangerous', severity });
  });

  it.each([
    ['collections', 'OrderedDict'],
    ['torch._utils', '_rebuild_tensor_v2'],
    ['torch', 'FloatStorage'],
    ['numpy.core.multiarray', '_reconstruct'],
    ['numpy', 'dtype'],
    ['sklearn.ensemble._forest', 'RandomForestClassifier'],
    ['joblib.numpy_pickle', 'NumpyArrayWrapper'],
    ['__builtin__', 'set'],
    ['_codecs', 'encode'],
  ])('%s.%s is known safe', (module, name) => {
    expect(classifyGlobal(module, name)).toEqual({ kind: 'safe' });
  });

  it.each([
    ['mymodule', 'Model'],
    ['sklearn.datasets', 'fetch_openml'],
    ['sklearn.tree._classes', 'DecisionTreeClassifier.fit'],
    ['scipy.sparse._csr', 'csr_matrix'],
  ])('%s.%s is left for review', (module, name) => {
    expect(classifyGlobal(module, name)).toEqual({ kind: 'unknown' });
  });
});

describe('scanModelFiles on the fixtures', () => {
  it.each(Object.entries(expected.files))('%s', async (name, want) => {
    const { findings, scanned } = await scanModelFiles([join(DIR, name)]);
    expect(scanned).toHaveLength(1);
    expect(findings.map(summary).sort(byText)).toEqual([...want].sort(byText));
    for (const f of findings) {
      expect(f.source).toBe('model');
      expect(f.target).toBe(join(DIR, name));
    }
  });

  it('says where a payload sits: archive member, opcode, byte offset and the call', async () => {
    const raw = await scanModelFiles([join(DIR, 'os_system.pkl')]);
    expect(raw.findings[0].location).toMatch(
      /^opcode STACK_GLOBAL at byte \d+, called by REDUCE at byte \d+$/,
    );
    const torch = await scanModelFiles([join(DIR, 'torch_malicious.pt')]);
    expect(torch.findings[0].location).toMatch(/^archive\/data\.pkl, opcode GLOBAL at byte \d+/);
    const npz = await scanModelFiles([join(DIR, 'malicious.npz')]);
    expect(npz.findings[0].location).toMatch(/^hook\.npy, opcode GLOBAL at byte \d+/);
    const inst = await scanModelFiles([join(DIR, 'inst.pkl')]);
    expect(inst.findings[0].location).toBe('opcode INST at byte 15');
  });

  it('walks a directory and names each container format', async () => {
    const { scanned, findings } = await scanModelFiles([DIR]);
    const formats = Object.fromEntries(scanned.map((s) => [s.path.slice(DIR.length + 1), s.format]));
    expect(Object.keys(formats).sort()).toEqual(Object.keys(expected.files).sort());
    expect(formats).toMatchObject({
      'dict.pkl': 'pickle',
      'sklearn_model.joblib': 'joblib',
      'sklearn_model_zlib.joblib': 'joblib (zlib)',
      'torch_state_dict.pt': 'pytorch (zip)',
      'torch_legacy.pt': 'pytorch (legacy)',
      'floats.npy': 'numpy',
      'arrays.npz': 'numpy (npz)',
    });
    expect(findings).toHaveLength(Object.values(expected.files).flat().length);
  });

  it('refuses a path that does not exist', async () => {
    await expect(scanModelFiles([join(DIR, 'missing.pkl')])).rejects.toThrow(ConfigurationError);
  });
});

describe('scanModelFiles on pickles it builds', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mlgate-scan-models-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  const scanBytes = async (name: string, bytes: Uint8Array) => {
    await writeFile(join(tmp, name), bytes);
    return (await scanModelFiles([join(tmp, name)])).findings.map(summary);
  };

  it('reports every pickle of a file, not only the first', async () => {
    const safe = Buffer.from('\x80\x04K\x01.', 'latin1');
    const evil = Buffer.from("cos\nsystem\n(S'echo pwned'\ntR.", 'latin1');
    expect(await scanBytes('two.pkl', Buffer.concat([safe, evil]))).toEqual([
      { id: 'pickle-dangerous-global', severity: 'CRITICAL', global: 'os.system' },
    ]);
  });

  it('sees a payload hidden after a fake joblib wrapper, as pickle.load would run it', async () => {
    // joblib.load steps over 20 bytes of "array data" (a wrapper state without alignment padding);
    // pickle.load reads the same bytes as opcodes.
    const hidden = "cos\nsystem\n(S'x'\ntR.";
    const wrapper =
      '\x80\x04cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(\x8c\x05shapeK\x14\x85\x8c\x05dtype' +
      'cnumpy\ndtype\n\x8c\x02u1\x89\x88\x87R(K\x03\x8c\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tbub';
    expect(hidden).toHaveLength(20);
    const findings = await scanBytes('fake.joblib', Buffer.from(`${wrapper}${hidden}.`, 'latin1'));
    expect(findings).toEqual([{ id: 'pickle-dangerous-global', severity: 'CRITICAL', global: 'os.system' }]);
  });

  it('skips a .bin that is not a pickle, such as ONNX external data', async () => {
    const { findings, scanned } = await scanModelFiles([join(MODELS, 'external_ok', 'weights.bin')]);
    expect(findings).toEqual([]);
    expect(scanned[0].format).toBe('binary (not a pickle)');
  });

  it('reports an empty pickle file and an unreadable compression as unreadable', async () => {
    expect(await scanBytes('empty.pkl', new Uint8Array(0))).toEqual([
      { id: 'pickle-malformed', severity: 'HIGH' },
    ]);
    const xz = Uint8Array.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04]);
    expect(await scanBytes('model.joblib', xz)).toEqual([{ id: 'pickle-malformed', severity: 'HIGH' }]);
  });
});

describe('scanModelFiles on ONNX models', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mlgate-scan-onnx-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  const ids = (findings: Finding[]) => findings.map((f) => [f.id, f.severity]);

  it('reports a custom operator domain', async () => {
    const { findings } = await scanModelFiles([join(MODELS, 'custom_domain.onnx')]);
    expect(ids(findings)).toEqual([['onnx-custom-domain', 'HIGH']]);
    expect(findings[0].title).toContain('"com.example.custom" (FancyRelu)');
  });

  it.each([
    ['external_escape.onnx', '../escape.bin'],
    ['external_abs.onnx', '/etc/passwd'],
  ])('reports external data outside the model directory: %s', async (name, location) => {
    const { findings } = await scanModelFiles([join(MODELS, name)]);
    expect(ids(findings)).toEqual([['onnx-external-data-escape', 'CRITICAL']]);
    expect(findings[0].title).toContain(`"${location}"`);
  });

  it('reports external data reached through a symbolic link', async () => {
    await mkdir(join(tmp, 'model'));
    await mkdir(join(tmp, 'elsewhere'));
    await copyFile(join(MODELS, 'external_ok', 'model.onnx'), join(tmp, 'model', 'model.onnx'));
    await writeFile(join(tmp, 'elsewhere', 'secret'), new Uint8Array(8));
    await symlink(join(tmp, 'elsewhere', 'secret'), join(tmp, 'model', 'weights.bin'));
    const { findings } = await scanModelFiles([join(tmp, 'model', 'model.onnx')]);
    expect(ids(findings)).toEqual([['onnx-external-data-escape', 'CRITICAL']]);
  });

  it('passes external data beside the model, and reports initializers over the size limit', async () => {
    const model = join(MODELS, 'external_ok', 'model.onnx');
    expect((await scanModelFiles([model])).findings).toEqual([]);
    const small = await scanModelFiles([model], { maxInitializerBytes: 4 });
    expect(ids(small.findings)).toEqual([['onnx-oversized-initializer', 'MEDIUM']]);
    expect(small.findings[0].title).toContain('"weight" takes 8 bytes');
    const inline = await scanModelFiles([join(MODELS, 'regressor.onnx')], { maxInitializerBytes: 1 });
    expect(inline.findings.length).toBeGreaterThan(0);
    expect(new Set(inline.findings.map((f) => f.id))).toEqual(new Set(['onnx-oversized-initializer']));
  });

  it('reports a file that is not ONNX', async () => {
    const { findings } = await scanModelFiles([join(MODELS, 'not_onnx.onnx')]);
    expect(ids(findings)).toEqual([['onnx-malformed', 'HIGH']]);
  });
});
