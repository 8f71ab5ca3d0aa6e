/**
 * A minimal reader for the protobuf wire format: enough to inspect an ONNX model (inputs, outputs,
 * operator domains, classifier labels, external-data locations) without a protobuf dependency or a
 * full decode of the weights, which are skipped by length.
 */
export const WireType = { Varint: 0, Fixed64: 1, Bytes: 2, Fixed32: 5 } as const;

export interface Field {
  number: number;
  wireType: number;
  /** Varint value (as a number: ONNX dims and labels fit), or the fixed value's bits. */
  int: number;
  /** Length-delimited payload (a submessage, string, bytes or packed repeated field). */
  bytes: Uint8Array;
}

export class ProtobufError extends Error {}

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: false });

export function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new ProtobufError('truncated varint');
      const byte = buf[pos++];
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new ProtobufError('varint longer than 10 bytes');
  };
  while (pos < buf.length) {
    const key = varint();
    const number = Math.floor(key / 8);
    const wireType = key & 7;
    if (number === 0) throw new ProtobufError('field number 0');
    switch (wireType) {
      case WireType.Varint:
        yield { number, wireType, int: varint(), bytes: EMPTY };
        break;
      case WireType.Fixed64:
        if (pos + 8 > buf.length) throw new ProtobufError('truncated fixed64');
        yield { number, wireType, int: 0, bytes: buf.subarray(pos, pos + 8) };
        pos += 8;
        break;
      case WireType.Bytes: {
        const length = varint();
        if (pos + length > buf.length) throw new ProtobufError('length past the end of the message');
        yield { number, wireType, int: 0, bytes: buf.subarray(pos, pos + length) };
        pos += length;
        break;
      }
      case WireType.Fixed32:
        if (pos + 4 > buf.length) throw new ProtobufError('truncated fixed32');
        yield { number, wireType, int: 0, bytes: buf.subarray(pos, pos + 4) };
        pos += 4;
        break;
      default:
        throw new ProtobufError(`unsupported wire type ${wireType}`);
    }
  }
}

export const text = (f: Field): string => utf8.decode(f.bytes);

/** Repeated int64: either one varint per field or a packed run in one length-delimited field. */
export function ints(f: Field): number[] {
  if (f.wireType === WireType.Varint) return [f.int];
  return [...fields(prefixPacked(f.bytes))].map((x) => x.int);
}

// Packed varints carry no tags; giving each one the tag of field 1 lets the field reader decode them.
function prefixPacked(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i] & 0x80) === 0) {
      out.push(0x08, ...bytes.subarray(start, i + 1));
      start = i + 1;
    }
  }
  return Uint8Array.from(out);
}

export function encodeVarint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

export function encodeBytesField(number: number, payload: Uint8Array): Uint8Array {
  const head = [...encodeVarint(number * 8 + WireType.Bytes), ...encodeVarint(payload.length)];
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}
