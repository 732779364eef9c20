// An infer body's JSON with each input's flat `data` array lifted out before JSON.parse, so that
// a float tensor's numbers are read straight into its typed array (float32-text.ts) and V8 never
// builds an array of 25,000 doubles for them. Everything else in the body is parsed as before.
//
// Whatever the client sent, the result is the one JSON.parse of the whole body would give, or
// nothing (the caller then parses the whole body): an array is lifted only as far as its first
// `]`, and is used only once it has been read as a flat array of numbers in JSON's grammar, or
// parsed on its own as one JSON array; every lifted array must be used so, or the lifting is
// dropped. Its place in the text holds a string no client can guess, matched by equality, so
// duplicate keys resolve as JSON.parse resolves them.
import { randomBytes } from 'node:crypto';

/**
 * Below this a body is parsed whole: lifting walks the text and joins its pieces, which costs more
 * than it saves under ~450 bytes (a 1-row MNIST body, 4.5 KB: 19 → 10 µs; 32 rows: 2.2 → 0.28 ms).
 */
export const LIFT_MIN_BYTES = 1024;

const MARK = `\u0000pareto-data-${randomBytes(8).toString('hex')}-`;

/** A lifted array: bytes [start, end) of the body, and whether an input has taken it. */
export interface LiftedArray {
  start: number;
  end: number;
  taken: boolean;
}

export interface LiftedBody {
  /** The JSON with every lifted array replaced by its mark. */
  json: string;
  /** By mark number. */
  arrays: LiftedArray[];
}

const enum C { Quote = 0x22, Backslash = 0x5c, Colon = 0x3a, Comma = 0x2c, OpenBracket = 0x5b, CloseBracket = 0x5d, OpenBrace = 0x7b, CloseBrace = 0x7d }

const INPUTS = Buffer.from('inputs');
const DATA = Buffer.from('data');

const keyIs = (bytes: Buffer, start: number, end: number, key: Buffer) => bytes.compare(key, 0, key.length, start, end) === 0;

/**
 * The body's JSON text `bytes[0, end)` with the `data` arrays of its `inputs` lifted out, or
 * undefined when it has none to lift. It need not be valid JSON: the caller's parse says so.
 */
export function liftTensorData(bytes: Buffer, end: number): LiftedBody | undefined {
  // Containers open at each depth ('{' or '['), and which of them is the root's `inputs` array.
  const open: number[] = [];
  let inputsDepth = -1;
  let key: 'inputs' | 'data' | undefined; // the key whose value comes next
  let atKey = false; // right after `{` or `,` in an object
  const arrays: LiftedArray[] = [];
  let pieces: string[] | undefined;
  let copied = 0;
  let i = 0;
  while (i < end) {
    const c = bytes[i];
    if (c === C.Quote) {
      const start = ++i;
      for (; i < end; i++) {
        const s = bytes[i];
        if (s === C.Backslash) i++;
        else if (s === C.Quote) break;
      }
      // A key with an escape in it never matches (its bytes are not the key's); where JSON.parse
      // reads it as `data`, the marks settle which value wins.
      if (atKey) {
        const depth = open.length;
        if (depth === 1 && keyIs(bytes, start, i, INPUTS)) key = 'inputs';
        else if (depth === 3 && inputsDepth === 2 && open[2] === C.OpenBrace && keyIs(bytes, start, i, DATA)) key = 'data';
      }
      atKey = false;
      i++;
      continue;
    }
    if (c === C.OpenBrace || c === C.OpenBracket) {
      if (c === C.OpenBracket && key === 'data') {
        // Data nested as its shape is parsed whole (JSON.parse reads it into rows at ~2× the speed of one flat array).
        let first = i + 1;
        while (first < end && bytes[first] <= 0x20) first++;
        if (bytes[first] === C.OpenBracket) return undefined;
        const close = bytes.indexOf(C.CloseBracket, i);
        if (close < 0 || close >= end) return undefined;
        (pieces ??= []).push(bytes.toString('utf8', copied, i), JSON.stringify(MARK + arrays.length));
        arrays.push({ start: i, end: close + 1, taken: false });
        copied = close + 1;
        i = close + 1;
        key = undefined;
        continue;
      }
      if (c === C.OpenBracket && key === 'inputs') inputsDepth = open.length + 1;
      open.push(c);
      atKey = c === C.OpenBrace;
    } else if (c === C.CloseBrace || c === C.CloseBracket) {
      if (open.length === inputsDepth) inputsDepth = -1;
      open.pop();
      atKey = false;
    } else if (c === C.Comma) {
      atKey = open[open.length - 1] === C.OpenBrace;
    } else if (c !== C.Colon && c > 0x20) {
      atKey = false;
    }
    if (c !== C.Colon && c > 0x20) key = undefined;
    i++;
  }
  if (!pieces) return undefined;
  pieces.push(bytes.toString('utf8', copied, end));
  return { json: pieces.join(''), arrays };
}

/** The lifted array a `data` value stands for, if it is a mark. */
export function liftedArray(lifted: LiftedBody, data: unknown): LiftedArray | undefined {
  if (typeof data !== 'string' || !data.startsWith(MARK)) return undefined;
  const k = Number(data.slice(MARK.length));
  return Number.isInteger(k) && k >= 0 && k < lifted.arrays.length && data === MARK + k ? lifted.arrays[k] : undefined;
}
