import type { Finding, Severity } from './findings.js';

/**
 * Reads pickles without running them: a disassembler for protocols 0 to 5 (the opcodes and argument
 * encodings of CPython's pickletools) and a symbolic stack machine that follows what each opcode would
 * push, so that the module and name of every import are known however the pickle spells them (GLOBAL,
 * INST, STACK_GLOBAL on literals or on memo entries) and the calls made on them. Nothing is imported or
 * called. Policy (which imports are dangerous) is at the end of the file.
 */

/** Random access to the bytes being scanned, so a multi-gigabyte file need not sit in memory. */
export interface ByteSource {
  readonly length: number;
  /** Up to `n` bytes from `pos`; fewer at the end of the data. */
  read(pos: number, n: number): Uint8Array;
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  return { length: bytes.length, read: (pos, n) => bytes.subarray(pos, Math.min(bytes.length, pos + n)) };
}

export class PickleError extends Error {
  constructor(
    message: string,
    readonly pos: number,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- opcodes

type ArgKind =
  | 'uint1'
  | 'uint2'
  | 'int4'
  | 'uint4'
  | 'uint8'
  | 'decimalnl_short'
  | 'decimalnl_long'
  | 'stringnl'
  | 'stringnl_noescape'
  | 'stringnl_noescape_pair'
  | 'unicodestringnl'
  | 'floatnl'
  | 'float8'
  | 'long1'
  | 'long4'
  | 'string1'
  | 'string4'
  | 'bytes1'
  | 'bytes4'
  | 'bytes8'
  | 'bytearray8'
  | 'unicodestring1'
  | 'unicodestring4'
  | 'unicodestring8';

/** Name, code and argument of every opcode, as pickletools names them. */
const OPCODES = [
  ['INT', 'I', 'decimalnl_short'],
  ['BININT', 'J', 'int4'],
  ['BININT1', 'K', 'uint1'],
  ['BININT2', 'M', 'uint2'],
  ['LONG', 'L', 'decimalnl_long'],
  ['LONG1', '\x8a', 'long1'],
  ['LONG4', '\x8b', 'long4'],
  ['STRING', 'S', 'stringnl'],
  ['BINSTRING', 'T', 'string4'],
  ['SHORT_BINSTRING', 'U', 'string1'],
  ['BINBYTES', 'B', 'bytes4'],
  ['SHORT_BINBYTES', 'C', 'bytes1'],
  ['BINBYTES8', '\x8e', 'bytes8'],
  ['BYTEARRAY8', '\x96', 'bytearray8'],
  ['NEXT_BUFFER', '\x97', null],
  ['READONLY_BUFFER', '\x98', null],
  ['NONE', 'N', null],
  ['NEWTRUE', '\x88', null],
  ['NEWFALSE', '\x89', null],
  ['UNICODE', 'V', 'unicodestringnl'],
  ['SHORT_BINUNICODE', '\x8c', 'unicodestring1'],
  ['BINUNICODE', 'X', 'unicodestring4'],
  ['BINUNICODE8', '\x8d', 'unicodestring8'],
  ['FLOAT', 'F', 'floatnl'],
  ['BINFLOAT', 'G', 'float8'],
  ['EMPTY_LIST', ']', null],
  ['APPEND', 'a', null],
  ['APPENDS', 'e', null],
  ['LIST', 'l', null],
  ['EMPTY_TUPLE', ')', null],
  ['TUPLE', 't', null],
  ['TUPLE1', '\x85', null],
  ['TUPLE2', '\x86', null],
  ['TUPLE3', '\x87', null],
  ['EMPTY_DICT', '}', null],
  ['DICT', 'd', null],
  ['SETITEM', 's', null],
  ['SETITEMS', 'u', null],
  ['EMPTY_SET', '\x8f', null],
  ['ADDITEMS', '\x90', null],
  ['FROZENSET', '\x91', null],
  ['POP', '0', null],
  ['DUP', '2', null],
  ['MARK', '(', null],
  ['POP_MARK', '1', null],
  ['GET', 'g', 'decimalnl_short'],
  ['BINGET', 'h', 'uint1'],
  ['LONG_BINGET', 'j', 'uint4'],
  ['PUT', 'p', 'decimalnl_short'],
  ['BINPUT', 'q', 'uint1'],
  ['LONG_BINPUT', 'r', 'uint4'],
  ['MEMOIZE', '\x94', null],
  ['EXT1', '\x82', 'uint1'],
  ['EXT2', '\x83', 'uint2'],
  ['EXT4', '\x84', 'int4'],
  ['GLOBAL', 'c', 'stringnl_noescape_pair'],
  ['STACK_GLOBAL', '\x93', null],
  ['REDUCE', 'R', null],
  ['BUILD', 'b', null],
  ['INST', 'i', 'stringnl_noescape_pair'],
  ['OBJ', 'o', null],
  ['NEWOBJ', '\x81', null],
  ['NEWOBJ_EX', '\x92', null],
  ['PROTO', '\x80', 'uint1'],
  ['STOP', '.', null],
  ['FRAME', '\x95', 'uint8'],
  ['PERSID', 'P', 'stringnl_noescape'],
  ['BINPERSID', 'Q', null],
] as const satisfies readonly (readonly [string, string, ArgKind | null])[];

export type OpName = (typeof OPCODES)[number][0];
export const OPCODE_NAMES: readonly OpName[] = OPCODES.map(([name]) => name);

const BY_CODE = new Map<number, { name: OpName; arg: ArgKind | null }>(
  OPCODES.map(([name, code, arg]) => [code.charCodeAt(0), { name, arg }]),
);

/** Where a bytes argument lies: its content is read only on demand, as it may be gigabytes of weights. */
export interface ByteSpan {
  offset: number;
  length: number;
}

/** GLOBAL and INST carry a module and a name. */
export type PickleArg = number | bigint | boolean | string | null | ByteSpan | readonly [string, string];

export interface PickleOp {
  name: OpName;
  /** Offset of the opcode byte in the source. */
  pos: number;
  arg: PickleArg | undefined;
}

// ---------------------------------------------------------------- reading arguments

const latin1 = new TextDecoder('latin1');
// A protocol 0 argument longer than this is an attack on the scanner's memory, not a model.
const MAX_LINE = 64 * 1024 * 1024;
const utf8 = new TextDecoder('utf-8');

class Cursor {
  constructor(
    readonly src: ByteSource,
    public pos: number,
  ) {}

  take(n: number, what: string): Uint8Array {
    if (n > this.src.length - this.pos)
      throw new PickleError(`${what} runs past the end of the data`, this.pos);
    const bytes = this.src.read(this.pos, n);
    this.pos += n;
    return bytes;
  }

  skip(n: number, what: string): ByteSpan {
    if (n > this.src.length - this.pos)
      throw new PickleError(`${what} runs past the end of the data`, this.pos);
    const span = { offset: this.pos, length: n };
    this.pos += n;
    return span;
  }

  /** The bytes up to the next newline, which is consumed; protocol 0 arguments end with one. */
  line(what: string): Uint8Array {
    const parts: Uint8Array[] = [];
    let at = this.pos;
    for (;;) {
      const chunk = this.src.read(at, 4096);
      if (chunk.length === 0) throw new PickleError(`no newline ends the ${what}`, this.pos);
      if (at - this.pos > MAX_LINE)
        throw new PickleError(`the ${what} is longer than ${MAX_LINE} bytes`, this.pos);
      const nl = chunk.indexOf(10);
      if (nl >= 0) {
        parts.push(chunk.subarray(0, nl));
        this.pos = at + nl + 1;
        return parts.length === 1 ? parts[0] : Buffer.concat(parts);
      }
      parts.push(chunk);
      at += chunk.length;
    }
  }

  view(n: number, what: string): DataView {
    const b = this.take(n, what);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
}

function readArg(cur: Cursor, kind: ArgKind): PickleArg {
  switch (kind) {
    case 'uint1':
      return cur.take(1, kind)[0];
    case 'uint2':
      return cur.view(2, kind).getUint16(0, true);
    case 'int4':
      return cur.view(4, kind).getInt32(0, true);
    case 'uint4':
      return cur.view(4, kind).getUint32(0, true);
    case 'uint8':
      return narrow(cur.view(8, kind).getBigUint64(0, true));
    case 'decimalnl_short': {
      const text = latin1.decode(cur.line('integer'));
      // Protocol 0 spells the booleans as INT 00 and 01.
      if (text === '00') return false;
      if (text === '01') return true;
      return pythonInt(text, cur.pos);
    }
    case 'decimalnl_long':
      return pythonInt(latin1.decode(cur.line('long')).replace(/L$/, ''), cur.pos);
    case 'floatnl':
      return pythonFloat(latin1.decode(cur.line('float')), cur.pos);
    case 'float8':
      return cur.view(8, kind).getFloat64(0, false);
    case 'stringnl':
      return latin1.decode(escapeDecode(unquote(cur.line('string'), cur.pos), cur.pos));
    case 'stringnl_noescape':
      return latin1.decode(cur.line('persistent id'));
    case 'stringnl_noescape_pair':
      // As the unpickler reads them (UTF-8, no escapes), not as pickletools prints them.
      return [utf8.decode(cur.line('module name')), utf8.decode(cur.line('global name'))] as const;
    case 'unicodestringnl':
      return rawUnicodeEscapeDecode(cur.line('unicode string'), cur.pos);
    case 'long1':
      return decodeLong(cur.take(cur.take(1, kind)[0], 'long'));
    case 'long4':
      return decodeLong(cur.take(length(cur.view(4, kind).getInt32(0, true), cur), 'long'));
    case 'string1':
      return latin1.decode(cur.take(cur.take(1, kind)[0], 'string'));
    case 'string4':
      return latin1.decode(cur.take(length(cur.view(4, kind).getInt32(0, true), cur), 'string'));
    case 'bytes1':
      return cur.skip(cur.take(1, kind)[0], 'bytes');
    case 'bytes4':
      return cur.skip(cur.view(4, kind).getUint32(0, true), 'bytes');
    case 'bytes8':
    case 'bytearray8':
      return cur.skip(length(cur.view(8, kind).getBigUint64(0, true), cur), 'bytes');
    case 'unicodestring1':
      return utf8.decode(cur.take(cur.take(1, kind)[0], 'string'));
    case 'unicodestring4':
      return utf8.decode(cur.take(cur.view(4, kind).getUint32(0, true), 'string'));
    case 'unicodestring8':
      return utf8.decode(cur.take(length(cur.view(8, kind).getBigUint64(0, true), cur), 'string'));
  }
}

function narrow(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

function length(n: number | bigint, cur: Cursor): number {
  if (n < 0) throw new PickleError('negative byte count', cur.pos);
  if (n > Number.MAX_SAFE_INTEGER) throw new PickleError('byte count too large', cur.pos);
  return Number(n);
}

/** Python's int(): surrounding whitespace, a sign and underscores between digits are allowed. */
function pythonInt(text: string, pos: number): number | bigint {
  const s = text.trim();
  if (!/^[+-]?\d+(_\d+)*$/.test(s))
    throw new PickleError(`invalid integer literal ${JSON.stringify(text)}`, pos);
  const digits = BigInt(s.replace(/[+_-]/g, ''));
  return narrow(s.startsWith('-') ? -digits : digits);
}

function pythonFloat(text: string, pos: number): number {
  const s = text.trim().replace(/(\d)_(?=\d)/g, '$1');
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(s);
  if (special) {
    const sign = special[1] === '-' ? -1 : 1;
    return special[2].toLowerCase() === 'nan' ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) {
    throw new PickleError(`invalid float literal ${JSON.stringify(text)}`, pos);
  }
  return Number(s);
}

/** Two's-complement little-endian, as pickle writes LONG1 and LONG4. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) n -= 1n << BigInt(bytes.length * 8);
  return narrow(n);
}

function unquote(line: Uint8Array, pos: number): Uint8Array {
  for (const q of [0x22, 0x27]) {
    if (line[0] !== q) continue;
    if (line.length < 2 || line[line.length - 1] !== q)
      throw new PickleError('unbalanced string quotes', pos);
    return line.subarray(1, line.length - 1);
  }
  throw new PickleError('no string quotes around STRING argument', pos);
}

const SIMPLE_ESCAPES: Record<string, number> = {
  '\\': 0x5c,
  "'": 0x27,
  '"': 0x22,
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
};

/** codecs.escape_decode: the escapes of a Python bytes literal. */
function escapeDecode(bytes: Uint8Array, pos: number): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x5c) {
      out.push(bytes[i]);
      continue;
    }
    if (++i >= bytes.length) throw new PickleError('trailing backslash in STRING argument', pos);
    const c = String.fromCharCode(bytes[i]);
    if (c in SIMPLE_ESCAPES) out.push(SIMPLE_ESCAPES[c]);
    else if (c === '\n') continue;
    else if (c >= '0' && c <= '7') {
      let value = 0;
      let n = 0;
      for (; n < 3 && i < bytes.length && bytes[i] >= 0x30 && bytes[i] <= 0x37; n++, i++) {
        value = value * 8 + bytes[i] - 0x30;
      }
      i--;
      out.push(value & 0xff);
    } else if (c === 'x') {
      const hex = latin1.decode(bytes.subarray(i + 1, i + 3));
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new PickleError('invalid \\x escape in STRING argument', pos);
      out.push(Number.parseInt(hex, 16));
      i += 2;
    } else out.push(0x5c, bytes[i]);
  }
  return Uint8Array.from(out);
}

/** The raw-unicode-escape codec: bytes are Latin-1 code points but for \uXXXX and \UXXXXXXXX. */
function rawUnicodeEscapeDecode(bytes: Uint8Array, pos: number): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const next = bytes[i + 1];
    if (bytes[i] !== 0x5c || (next !== 0x75 && next !== 0x55)) {
      out += String.fromCharCode(bytes[i]);
      continue;
    }
    const digits = next === 0x75 ? 4 : 8;
    const hex = latin1.decode(bytes.subarray(i + 2, i + 2 + digits));
    const code = Number.parseInt(hex, 16);
    if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex) || code > 0x10ffff) {
      throw new PickleError('truncated or invalid \\u escape in UNICODE argument', pos);
    }
    out += String.fromCodePoint(code);
    i += 1 + digits;
  }
  return out;
}

function readOp(cur: Cursor): PickleOp {
  const pos = cur.pos;
  if (pos >= cur.src.length) throw new PickleError('the data ends before a STOP opcode', pos);
  const code = cur.take(1, 'opcode')[0];
  const op = BY_CODE.get(code);
  if (!op) throw new PickleError(`unknown opcode 0x${code.toString(16).padStart(2, '0')}`, pos);
  return { name: op.name, pos, arg: op.arg ? readArg(cur, op.arg) : undefined };
}

/** Every opcode of the pickle starting at `start`, through its STOP: pickletools.genops in TypeScript. */
export function* genops(src: ByteSource, start = 0): Generator<PickleOp> {
  const cur = new Cursor(src, start);
  for (;;) {
    const op = readOp(cur);
    yield op;
    if (op.name === 'STOP') return;
  }
}

// ---------------------------------------------------------------- the symbolic stack machine

/** An import as the file spells it; `module` or `name` is missing when computed while loading. */
export interface GlobalImport {
  module?: string;
  name?: string;
  /** Set for EXT1/2/4: an import through the copyreg extension registry. */
  extension?: number;
  opcode: OpName;
  pos: number;
  /** REDUCE, NEWOBJ, OBJ or INST calls on the imported object, with their arguments. */
  calls: { opcode: OpName; pos: number; args: Value[] }[];
}

type Value =
  | { kind: 'str'; text: string }
  | { kind: 'int'; int: number | bigint }
  | { kind: 'seq'; items: Value[] }
  | { kind: 'dict'; entries: [Value, Value][] }
  | { kind: 'global'; ref: GlobalImport }
  | { kind: 'object'; cls: Value; args: Value[]; state?: Value }
  /** Floats, bytes, None, booleans, buffers, persistent ids: nothing an import or array size depends on. */
  | { kind: 'other' }
  /** What a malformed stack yields (underflow, missing memo entry). */
  | { kind: 'unknown' };

export type { Value as PickleValue };

const OTHER: Value = { kind: 'other' };
const UNKNOWN: Value = { kind: 'unknown' };
// Containers keep their first items only: enough for the small tuples and dicts the scan reads
// (shapes, dtypes, joblib's array wrapper), and memory stays flat on a pickle with millions of items.
const KEEP_ITEMS = 256;
const MAX_NESTING = 8;

export interface PickleAnalysis {
  start: number;
  /** Offset just past the STOP opcode (or where reading stopped on an error). */
  end: number;
  imports: GlobalImport[];
  /** What STOP returned. */
  result?: Value;
  error?: PickleError;
  /** Whether joblib's array wrappers were seen (and their raw buffers stepped over). */
  joblib: boolean;
}

/** Follows one pickle from `start` through its STOP. Never throws on bad data: `error` says what broke. */
export function analyzePickle(src: ByteSource, start = 0): PickleAnalysis {
  return new Machine(src, start, 0).run();
}

class Machine {
  private stack: Value[] = [];
  private readonly marks: Value[][] = [];
  private readonly memo = new Map<number, Value>();
  private readonly cur: Cursor;
  private readonly out: PickleAnalysis;

  constructor(
    src: ByteSource,
    start: number,
    private readonly depth: number,
  ) {
    this.cur = new Cursor(src, start);
    this.out = { start, end: start, imports: [], joblib: false };
  }

  run(): PickleAnalysis {
    try {
      for (;;) {
        const op = readOp(this.cur);
        if (op.name === 'STOP') {
          this.out.result = this.pop();
          break;
        }
        this.step(op);
      }
    } catch (e) {
      if (!(e instanceof PickleError)) throw e;
      this.out.error = e;
    }
    this.out.end = this.cur.pos;
    return this.out;
  }

  private push(v: Value) {
    this.stack.push(v);
  }

  private pop(): Value {
    return this.stack.pop() ?? UNKNOWN;
  }

  private top(): Value {
    return this.stack[this.stack.length - 1] ?? UNKNOWN;
  }

  private popMark(): Value[] {
    const items = this.stack;
    this.stack = this.marks.pop() ?? [];
    return items;
  }

  private import(op: PickleOp, module?: string, name?: string, extension?: number): GlobalImport {
    const ref: GlobalImport = { module, name, extension, opcode: op.name, pos: op.pos, calls: [] };
    this.out.imports.push(ref);
    return ref;
  }

  private call(op: PickleOp, callee: Value, args: Value[]): Value {
    if (callee.kind === 'global') callee.ref.calls.push({ opcode: op.name, pos: op.pos, args });
    return { kind: 'object', cls: callee, args };
  }

  private step(op: PickleOp) {
    const arg = op.arg;
    switch (op.name) {
      case 'PROTO':
      case 'FRAME':
      case 'READONLY_BUFFER':
        return;
      case 'INT':
      case 'BININT':
      case 'BININT1':
      case 'BININT2':
      case 'LONG':
      case 'LONG1':
      case 'LONG4':
        return this.push(typeof arg === 'boolean' ? OTHER : { kind: 'int', int: arg as number | bigint });
      case 'STRING':
      case 'BINSTRING':
      case 'SHORT_BINSTRING':
      case 'UNICODE':
      case 'SHORT_BINUNICODE':
      case 'BINUNICODE':
      case 'BINUNICODE8':
        return this.push({ kind: 'str', text: arg as string });
      case 'BINBYTES':
      case 'SHORT_BINBYTES':
      case 'BINBYTES8':
      case 'BYTEARRAY8':
      case 'NEXT_BUFFER':
      case 'NONE':
      case 'NEWTRUE':
      case 'NEWFALSE':
      case 'FLOAT':
      case 'BINFLOAT':
      case 'PERSID':
        return this.push(OTHER);
      case 'BINPERSID':
        this.pop();
        return this.push(OTHER);
      case 'EMPTY_LIST':
      case 'EMPTY_TUPLE':
      case 'EMPTY_SET':
        return this.push({ kind: 'seq', items: [] });
      case 'EMPTY_DICT':
        return this.push({ kind: 'dict', entries: [] });
      case 'APPEND': {
        const item = this.pop();
        return append(this.top(), [item]);
      }
      case 'APPENDS':
      case 'ADDITEMS': {
        const added = this.popMark();
        return append(this.top(), added);
      }
      case 'LIST':
      case 'TUPLE':
      case 'FROZENSET':
        return this.push({ kind: 'seq', items: this.popMark().slice(0, KEEP_ITEMS) });
      case 'TUPLE1':
      case 'TUPLE2':
      case 'TUPLE3': {
        const n = Number(op.name[5]);
        const items = Array.from({ length: n }, () => this.pop()).reverse();
        return this.push({ kind: 'seq', items });
      }
      case 'DICT':
        return this.push({ kind: 'dict', entries: pairs(this.popMark()) });
      case 'SETITEM': {
        const value = this.pop();
        const key = this.pop();
        return setItems(this.top(), [[key, value]]);
      }
      case 'SETITEMS': {
        const entries = pairs(this.popMark());
        return setItems(this.top(), entries);
      }
      case 'POP':
        // As the unpickler does: POP on an empty stack above a mark discards the mark.
        if (this.stack.length > 0) this.stack.pop();
        else this.popMark();
        return;
      case 'DUP':
        return this.push(this.top());
      case 'MARK':
        this.marks.push(this.stack);
        this.stack = [];
        return;
      case 'POP_MARK':
        this.popMark();
        return;
      case 'GET':
      case 'BINGET':
      case 'LONG_BINGET':
        return this.push(this.memo.get(Number(arg)) ?? UNKNOWN);
      case 'PUT':
      case 'BINPUT':
      case 'LONG_BINPUT':
        this.memo.set(Number(arg), this.top());
        return;
      case 'MEMOIZE':
        this.memo.set(this.memo.size, this.top());
        return;
      case 'EXT1':
      case 'EXT2':
      case 'EXT4':
        return this.push({ kind: 'global', ref: this.import(op, undefined, undefined, Number(arg)) });
      case 'GLOBAL': {
        const [module, name] = arg as [string, string];
        return this.push({ kind: 'global', ref: this.import(op, module, name) });
      }
      case 'STACK_GLOBAL': {
        const name = this.pop();
        const module = this.pop();
        const text = (v: Value) => (v.kind === 'str' ? v.text : undefined);
        return this.push({ kind: 'global', ref: this.import(op, text(module), text(name)) });
      }
      case 'INST': {
        const [module, name] = arg as [string, string];
        const args = this.popMark();
        return this.push(this.call(op, { kind: 'global', ref: this.import(op, module, name) }, args));
      }
      case 'OBJ': {
        const [cls = UNKNOWN, ...args] = this.popMark();
        return this.push(this.call(op, cls, args));
      }
      case 'REDUCE': {
        const args = this.pop();
        const callee = this.pop();
        return this.push(this.call(op, callee, items(args)));
      }
      case 'NEWOBJ': {
        const args = this.pop();
        return this.push(this.call(op, this.pop(), items(args)));
      }
      case 'NEWOBJ_EX': {
        this.pop(); // keyword arguments
        const args = this.pop();
        return this.push(this.call(op, this.pop(), items(args)));
      }
      case 'BUILD': {
        const state = this.pop();
        const inst = this.top();
        if (inst.kind === 'object') inst.state = state;
        if (isJoblibWrapper(inst)) this.stepOverJoblibArray(state, op);
        return;
      }
      case 'STOP':
        return;
    }
  }

  /**
   * joblib writes a numpy array as a NumpyArrayWrapper, and right after the wrapper's BUILD, outside
   * the pickle, the array's raw bytes (after a padding byte and padding since joblib 1.2), or, for an
   * object array, a whole nested pickle. joblib.load reads exactly these; so does the scan.
   */
  private stepOverJoblibArray(state: Value, build: PickleOp) {
    this.out.joblib = true;
    const array = joblibArray(state);
    if (!array) throw new PickleError('joblib array wrapper without a readable shape and dtype', build.pos);
    const after = this.cur.pos;
    // pickle.load (rather than joblib.load) would read the bytes after BUILD as opcodes: when they
    // start with one, scan them that way too, so a payload hidden as "array data" is still seen.
    const first = this.cur.src.read(after, 1)[0];
    if (first !== undefined && BY_CODE.has(first) && !array.hasObject) this.plainPickleView(after);
    if (array.hasObject) {
      if (this.depth >= MAX_NESTING) throw new PickleError('joblib object arrays nested too deep', after);
      const nested = new Machine(this.cur.src, after, this.depth + 1).run();
      this.out.imports.push(...nested.imports);
      if (nested.error) throw nested.error;
      this.cur.pos = nested.end;
      return;
    }
    if (array.aligned) {
      const padding = this.cur.take(1, 'joblib padding')[0];
      this.cur.skip(padding, 'joblib padding');
    }
    this.cur.skip(array.bytes, 'joblib array data');
  }

  private plainPickleView(pos: number) {
    if (this.depth >= MAX_NESTING) return;
    const view = new Machine(this.cur.src, pos, this.depth + 1).run();
    this.out.imports.push(...view.imports);
  }
}

function items(v: Value): Value[] {
  return v.kind === 'seq' ? v.items : [];
}

function append(target: Value, values: Value[]) {
  if (target.kind !== 'seq') return;
  target.items.push(...values.slice(0, Math.max(0, KEEP_ITEMS - target.items.length)));
}

function pairs(values: Value[]): [Value, Value][] {
  const out: [Value, Value][] = [];
  for (let i = 0; i + 1 < values.length && out.length < KEEP_ITEMS; i += 2)
    out.push([values[i], values[i + 1]]);
  return out;
}

function setItems(target: Value, entries: [Value, Value][]) {
  if (target.kind !== 'dict') return;
  target.entries.push(...entries.slice(0, Math.max(0, KEEP_ITEMS - target.entries.length)));
}

function field(dict: Value | undefined, key: string): Value | undefined {
  if (dict?.kind !== 'dict') return undefined;
  return dict.entries.find(([k]) => k.kind === 'str' && k.text === key)?.[1];
}

function intOf(v: Value | undefined): number | undefined {
  return v?.kind === 'int' ? Number(v.int) : undefined;
}

/** The class an object was made from, seeing through copyreg._reconstructor (protocols 0 and 1). */
function classOf(v: Value): GlobalImport | undefined {
  if (v.kind !== 'object' || v.cls.kind !== 'global') return undefined;
  const ref = v.cls.ref;
  if (isReconstructor(ref) && v.args[0]?.kind === 'global') return v.args[0].ref;
  return ref;
}

const JOBLIB_WRAPPER_MODULES = new Set(['joblib.numpy_pickle', 'sklearn.externals.joblib.numpy_pickle']);

function isJoblibWrapper(v: Value): boolean {
  const cls = classOf(v);
  return cls?.name === 'NumpyArrayWrapper' && JOBLIB_WRAPPER_MODULES.has(cls.module ?? '');
}

/** Size and kind of the array a joblib wrapper stands for, from its state: shape, dtype, alignment. */
function joblibArray(state: Value): { bytes: number; hasObject: boolean; aligned: boolean } | undefined {
  const shape = field(state, 'shape');
  const dtype = field(state, 'dtype');
  if (shape?.kind !== 'seq' || dtype?.kind !== 'object') return undefined;
  const typestr = dtype.args[0]?.kind === 'str' ? dtype.args[0].text : undefined;
  if (typestr === undefined) return undefined;
  // numpy.dtype's state: (version, endian, subarray, names, fields, elsize, alignment, flags, ...).
  const dstate = dtype.state?.kind === 'seq' ? dtype.state.items : [];
  const elsize = intOf(dstate[5]);
  const flags = intOf(dstate[7]) ?? 0;
  const hasObject = typestr.startsWith('O') || (flags & 1) === 1;
  const digits = /^[a-zA-Z]+(\d+)/.exec(typestr);
  const itemsize = elsize !== undefined && elsize > 0 ? elsize : digits ? Number(digits[1]) : undefined;
  if (itemsize === undefined && !hasObject) return undefined;
  let count = 1;
  for (const dim of shape.items) {
    const n = intOf(dim);
    if (n === undefined || n < 0) return undefined;
    count *= n;
  }
  const alignment = field(state, 'numpy_array_alignment_bytes');
  return { bytes: count * (itemsize ?? 0), hasObject, aligned: alignment?.kind === 'int' };
}

// ---------------------------------------------------------------- policy

export type Verdict =
  | { kind: 'safe' }
  | { kind: 'dangerous'; severity: Extract<Severity, 'CRITICAL' | 'HIGH'>; why: string }
  | { kind: 'unknown' };

type Rule = [modules: string[], names: '*' | string[], severity: 'CRITICAL' | 'HIGH', why: string];

// After picklescan's and ModelScan's lists, with severities: CRITICAL where the import alone runs code,
// reaches the OS or the network or loads what the scan cannot see; HIGH where it takes a second step.
const DANGEROUS: Rule[] = [
  [['builtins'], ['eval', 'exec', 'execfile', 'compile', 'apply'], 'CRITICAL', 'evaluates Python code'],
  [['builtins'], ['__import__', 'reload'], 'CRITICAL', 'imports any module'],
  [
    ['builtins'],
    ['getattr', 'setattr', 'delattr', 'globals', 'locals', 'vars'],
    'CRITICAL',
    'reaches any attribute or variable, such as os.system',
  ],
  [['builtins', 'io', '_io'], ['open', 'file', 'open_code', 'FileIO'], 'CRITICAL', 'reads or writes files'],
  [
    ['builtins'],
    ['breakpoint', 'input', 'raw_input'],
    'CRITICAL',
    'stops the process for a debugger or input',
  ],
  [
    ['os', 'posix', 'nt', 'subprocess', '_posixsubprocess', 'pty', 'popen2', '_winapi'],
    '*',
    'CRITICAL',
    'runs commands or changes files',
  ],
  [['sys'], '*', 'CRITICAL', 'changes the interpreter: modules, import hooks, exit'],
  [['socket', '_socket'], '*', 'CRITICAL', 'opens network connections'],
  [
    ['runpy', 'code', 'codeop', 'timeit', 'pdb', 'bdb', 'trace', 'cProfile', 'profile', 'doctest'],
    '*',
    'CRITICAL',
    'runs Python code',
  ],
  [['shutil'], '*', 'CRITICAL', 'copies, moves and deletes files'],
  [['importlib', 'imp', 'pkgutil', 'zipimport', 'pydoc'], '*', 'CRITICAL', 'imports any module'],
  [
    ['pickle', '_pickle', 'dill', 'cloudpickle', 'marshal', '_marshal', 'shelve'],
    '*',
    'CRITICAL',
    'loads nested pickled or compiled code that this scan cannot see',
  ],
  [
    ['types'],
    ['CodeType', 'FunctionType', 'LambdaType', 'MethodType'],
    'CRITICAL',
    'builds functions from bytecode',
  ],
  [['ctypes', '_ctypes', 'cffi'], '*', 'CRITICAL', 'calls native code'],
  [['webbrowser'], '*', 'CRITICAL', 'starts a browser on any URL'],
  [['asyncio', 'multiprocessing', '_multiprocessing'], '*', 'CRITICAL', 'starts subprocesses or connections'],
  [['operator'], ['attrgetter', 'methodcaller'], 'CRITICAL', 'reaches any attribute, such as os.system'],
  [
    ['pip', 'ensurepip', 'venv', 'distutils', 'setuptools'],
    '*',
    'CRITICAL',
    'installs packages or runs builds',
  ],
  [
    ['numpy.f2py', 'numpy.testing', 'numpy.distutils', 'numpy.ctypeslib'],
    '*',
    'CRITICAL',
    'compiles or evaluates code, or loads native libraries',
  ],
  [['torch.hub'], '*', 'CRITICAL', 'downloads and runs repository code'],
  [['torch._inductor.codecache'], '*', 'CRITICAL', 'compiles and runs code'],
  [['torch.jit.unsupported_tensor_ops'], ['execWrapper'], 'CRITICAL', 'evaluates Python code'],
  [
    ['torch.fx.experimental.symbolic_shapes'],
    ['ShapeEnv.evaluate_guards_expression'],
    'CRITICAL',
    'evaluates Python code',
  ],
  [['torch._dynamo.guards'], ['GuardBuilder.get'], 'CRITICAL', 'evaluates Python code'],
  [['torch.utils.collect_env'], ['run'], 'CRITICAL', 'runs shell commands'],
  [['functools'], ['partial', 'partialmethod', 'reduce'], 'HIGH', 'calls any callable it is given'],
  [['operator'], ['itemgetter', 'call'], 'HIGH', 'calls or indexes whatever it is given'],
  [['threading', '_thread', 'atexit', 'signal'], '*', 'HIGH', 'runs callables later, on a thread or at exit'],
  [
    [
      'http',
      'urllib',
      'urllib2',
      'urllib3',
      'requests',
      'aiohttp',
      'ftplib',
      'smtplib',
      'telnetlib',
      'xmlrpc',
      'poplib',
      'imaplib',
      'nntplib',
      'socketserver',
      'ssl',
    ],
    '*',
    'HIGH',
    'sends or fetches data over the network',
  ],
  [['torch', 'torch.serialization'], ['load'], 'HIGH', 'loads another file, which this scan does not see'],
  [['torch.storage'], ['_load_from_bytes'], 'HIGH', 'unpickles embedded bytes this scan does not see'],
  [['numpy', 'numpy.lib.npyio'], ['load'], 'HIGH', 'loads another file, which this scan does not see'],
  [['joblib', 'joblib.numpy_pickle'], ['load'], 'HIGH', 'loads another file, which this scan does not see'],
  [
    ['pandas', 'pandas.io.pickle'],
    ['read_pickle'],
    'HIGH',
    'loads another file, which this scan does not see',
  ],
  [
    ['torch.utils._config_module', 'torch.utils.data.datapipes.utils.decoder'],
    ['ConfigModule.load_config', 'basichandlers'],
    'HIGH',
    'unpickles embedded bytes this scan does not see',
  ],
  [
    ['yaml'],
    ['load', 'load_all', 'unsafe_load', 'unsafe_load_all', 'full_load', 'full_load_all'],
    'HIGH',
    'builds any Python object from YAML',
  ],
  [['logging.config'], '*', 'HIGH', 'evaluates configuration as code'],
];

/** Python 2 names the unpickler maps to Python 3 modules (fix_imports, protocols 0 to 2). */
const PY2_MODULES: Record<string, string> = {
  __builtin__: 'builtins',
  exceptions: 'builtins',
  copy_reg: 'copyreg',
  cPickle: 'pickle',
  commands: 'subprocess',
  httplib: 'http.client',
  urllib2: 'urllib.request',
};

// Attribute paths (protocol 4 resolves dotted names) that lead out of a module to arbitrary code.
const INTERNALS = new Set([
  '__globals__',
  '__builtins__',
  '__dict__',
  '__class__',
  '__base__',
  '__bases__',
  '__mro__',
  '__subclasses__',
  '__getattribute__',
  '__code__',
  '__closure__',
  '__func__',
  '__self__',
  '__loader__',
]);

const TORCH_STORAGES = [
  'Storage',
  'UntypedStorage',
  'TypedStorage',
  ...['Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'].map(
    (t) => `${t}Storage`,
  ),
  ...['ComplexFloat', 'ComplexDouble', 'QUInt8', 'QInt8', 'QInt32', 'QUInt4x2', 'QUInt2x4'].map(
    (t) => `${t}Storage`,
  ),
];

const TORCH_VALUES = [
  'Size',
  'device',
  ...['float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'complex64', 'complex128'],
  ...['cfloat', 'cdouble', 'uint8', 'int8', 'int16', 'short', 'int32', 'int', 'int64', 'long', 'bool'],
  ...['qint8', 'quint8', 'qint32', 'quint4x2', 'float8_e4m3fn', 'float8_e5m2'],
  ...['strided', 'sparse_coo', 'sparse_csr', 'sparse_csc', 'sparse_bsr', 'sparse_bsc', '_mkldnn'],
  ...['contiguous_format', 'channels_last', 'channels_last_3d', 'preserve_format'],
  ...['per_tensor_affine', 'per_channel_affine', 'per_channel_affine_float_qparams'],
];

/** Classes and functions that rebuild data and nothing else. */
const SAFE: Record<string, string[]> = {
  builtins: [
    ...['set', 'frozenset', 'slice', 'complex', 'bytearray', 'bytes', 'range', 'xrange', 'list', 'dict'],
    ...['tuple', 'int', 'long', 'float', 'str', 'unicode', 'bool', 'object', 'Ellipsis', 'NotImplemented'],
  ],
  collections: ['OrderedDict', 'defaultdict', 'deque', 'Counter'],
  _codecs: ['encode'],
  datetime: ['datetime', 'date', 'time', 'timedelta', 'timezone'],
  decimal: ['Decimal'],
  fractions: ['Fraction'],
  torch: [...TORCH_STORAGES, ...TORCH_VALUES],
  'torch._utils': [
    ...['_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3', '_rebuild_parameter'],
    ...['_rebuild_parameter_with_state', '_rebuild_qtensor', '_rebuild_sparse_tensor'],
    ...['_rebuild_meta_tensor_no_storage', '_rebuild_nested_tensor', '_rebuild_device_tensor_from_numpy'],
  ],
  'torch.nn.parameter': ['Parameter'],
  numpy: ['dtype', 'ndarray'],
  'numpy.core.multiarray': ['_reconstruct', 'scalar'],
  'numpy._core.multiarray': ['_reconstruct', 'scalar'],
  'numpy.core.numeric': ['_frombuffer'],
  'numpy._core.numeric': ['_frombuffer'],
  'numpy.ma.core': ['_mareconstruct', 'MaskedArray'],
  'numpy.random': ['__RandomState_ctor'],
  'numpy.random._pickle': ['__randomstate_ctor', '__bit_generator_ctor', '__generator_ctor'],
  'joblib.numpy_pickle': ['NumpyArrayWrapper'],
  'joblib.numpy_pickle_compat': ['NDArrayWrapper', 'ZNDArrayWrapper'],
  'sklearn.externals.joblib.numpy_pickle': ['NumpyArrayWrapper'],
};

/** Packages whose every class and function is trusted, but for the subpackages that fetch or run things. */
const SAFE_PACKAGES = ['sklearn'];
const NOT_SAFE_SUBPACKAGES = ['sklearn.externals', 'sklearn.datasets', 'sklearn.utils._testing'];

const within = (module: string, pkg: string) => module === pkg || module.startsWith(`${pkg}.`);

const RULES_BY_MODULE = new Map<string, Rule[]>();
for (const rule of DANGEROUS) {
  for (const m of rule[0]) RULES_BY_MODULE.set(m, [...(RULES_BY_MODULE.get(m) ?? []), rule]);
}

function dangerOf(module: string, name: string): Rule | undefined {
  const head = name.split('.')[0];
  const exact = RULES_BY_MODULE.get(module)?.find(([, names]) => names === '*' || names.includes(name));
  // `eval.__call__` is eval: protocol 4 resolves dotted names attribute by attribute.
  const byHead = RULES_BY_MODULE.get(module)?.find(([, names]) => names !== '*' && names.includes(head));
  if (exact ?? byHead) return exact ?? byHead;
  const parts = module.split('.');
  for (let i = parts.length - 1; i > 0; i--) {
    const parent = RULES_BY_MODULE.get(parts.slice(0, i).join('.'))?.find(([, names]) => names === '*');
    if (parent) return parent;
  }
  return undefined;
}

/** How an import by module and name is judged; `copyreg._reconstructor` is judged on its calls instead. */
export function classifyGlobal(module: string, name: string): Verdict {
  const m = PY2_MODULES[module] ?? module;
  const rule = dangerOf(m, name);
  if (rule) return { kind: 'dangerous', severity: rule[2], why: rule[3] };
  const path = name.split('.');
  if (path.length > 1) {
    // A dotted name walks attributes from the module: `somepkg.mod` + `os.system` reaches os.system
    // when mod imported os. Dotted names are never trusted; a walk through internals or through an
    // attribute named like a dangerous module is judged dangerous, the rest is left for review.
    if (path.some((part) => INTERNALS.has(part))) {
      return {
        kind: 'dangerous',
        severity: 'CRITICAL',
        why: 'walks interpreter internals to reach any code',
      };
    }
    for (let i = 0; i < path.length - 1; i++) {
      const rule = RULES_BY_MODULE.get(PY2_MODULES[path[i]] ?? path[i])?.find(
        ([, names]) => names === '*' || names.includes(path[i + 1]),
      );
      if (rule) return { kind: 'dangerous', severity: rule[2], why: `reaches ${path[i]}, which ${rule[3]}` };
    }
    return { kind: 'unknown' };
  }
  if (SAFE[m]?.includes(name)) return { kind: 'safe' };
  const trusted = SAFE_PACKAGES.some((p) => within(m, p)) && !NOT_SAFE_SUBPACKAGES.some((p) => within(m, p));
  return trusted ? { kind: 'safe' } : { kind: 'unknown' };
}

function isReconstructor(ref: GlobalImport): boolean {
  return (PY2_MODULES[ref.module ?? ''] ?? ref.module) === 'copyreg' && ref.name === '_reconstructor';
}

const BUILTIN_BASES = new Set([
  'object',
  'list',
  'dict',
  'set',
  'frozenset',
  'tuple',
  'int',
  'long',
  'float',
]);

/**
 * copyreg._reconstructor(cls, base, state) makes `base.__new__(cls, state)`: harmless when base is a
 * builtin type (protocols 0 and 1 write every plain object that way), and the class is judged as its own
 * import. Any other base, or a use other than such a call, leaves it for review.
 */
function reconstructorIsSafe(ref: GlobalImport): boolean {
  if (ref.calls.length === 0) return false;
  return ref.calls.every(({ args: [cls, base] }) => {
    if (cls?.kind !== 'global' || base?.kind !== 'global') return false;
    const { module, name } = base.ref;
    return (PY2_MODULES[module ?? ''] ?? module) === 'builtins' && BUILTIN_BASES.has(name ?? '');
  });
}

function verdictOf(ref: GlobalImport): Verdict {
  if (ref.module === undefined || ref.name === undefined) {
    const why =
      ref.extension !== undefined
        ? 'only the loading process can resolve (copyreg extension registry)'
        : 'is computed while loading, so no scanner can check it';
    return { kind: 'dangerous', severity: 'HIGH', why };
  }
  if (isReconstructor(ref)) return reconstructorIsSafe(ref) ? { kind: 'safe' } : { kind: 'unknown' };
  return classifyGlobal(ref.module, ref.name);
}

// ---------------------------------------------------------------- findings

export interface PickleWhere {
  /** The scanned file. */
  target: string;
  /** The archive member holding the pickle, when there is one. */
  member?: string;
}

export function globalName(ref: GlobalImport): string {
  if (ref.extension !== undefined) return `extension code ${ref.extension}`;
  return `${ref.module ?? '?'}.${ref.name ?? '?'}`;
}

function location(where: PickleWhere, what: string): string {
  return where.member ? `${where.member}, ${what}` : what;
}

/**
 * One finding per dangerous or unknown import (the first place it occurs), and one for a pickle that
 * cannot be read to its end: what the scan cannot read, it cannot pass.
 */
export function pickleFindings(analyses: PickleAnalysis[], where: PickleWhere): Finding[] {
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const ref of analyses.flatMap((a) => a.imports)) {
    const verdict = verdictOf(ref);
    const name = globalName(ref);
    if (verdict.kind === 'safe' || seen.has(name)) continue;
    seen.add(name);
    const call = ref.calls[0];
    const at = `opcode ${ref.opcode} at byte ${ref.pos}${call && call.opcode !== ref.opcode ? `, called by ${call.opcode} at byte ${call.pos}` : ''}`;
    findings.push({
      id: verdict.kind === 'dangerous' ? 'pickle-dangerous-global' : 'pickle-unknown-global',
      source: 'model',
      severity: verdict.kind === 'dangerous' ? verdict.severity : 'MEDIUM',
      title:
        verdict.kind === 'dangerous'
          ? `pickle imports ${name}, which ${verdict.why}`
          : `pickle imports ${name}, which is neither known safe nor known dangerous: review it`,
      target: where.target,
      location: location(where, at),
    });
  }
  for (const { error } of analyses) {
    if (!error) continue;
    findings.push(malformedFinding(where, error.message, error.pos));
  }
  return findings;
}

export function malformedFinding(where: PickleWhere, problem: string, pos?: number): Finding {
  return {
    id: 'pickle-malformed',
    source: 'model',
    severity: 'HIGH',
    title: `cannot read the file to its end (${problem}); a file the scan cannot read does not pass`,
    target: where.target,
    location: location(where, pos === undefined ? 'whole file' : `byte ${pos}`),
  };
}
