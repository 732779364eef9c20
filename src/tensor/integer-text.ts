// JSON arrays of integers read exactly into a BigInt64Array or BigUint64Array. JSON.parse reads
// every number as a double, and a 64-bit id past 2^53 is no double (9007199254740993 reads
// 9007199254740992): Triton reads its JSON integers exactly, and tritonclient sends INT64 data as
// flat JSON arrays of its digits.

const enum C { Tab = 0x09, Lf = 0x0a, Cr = 0x0d, Space = 0x20, Comma = 0x2c, Minus = 0x2d, Zero = 0x30, Nine = 0x39, Open = 0x5b, Close = 0x5d }

const isSpace = (c: number) => c === C.Space || c === C.Lf || c === C.Cr || c === C.Tab;
const isDigit = (c: number) => c >= C.Zero && c <= C.Nine;

/** Where a value fell outside [lo, hi]: its index and its text (cut short). */
export interface OutOfRange {
  index: number;
  text: string;
}

/** More digits than any 64-bit integer has: out of range without being read (BigInt of a million digits: 220 ms of the thread). */
const MAX_DIGITS = 20;

/**
 * Reads the JSON array in `bytes[start, end)` (its `[` to its `]`) into `out` when it is a flat
 * array of exactly `out.length` integers in JSON's grammar (no fraction, no exponent): true, or
 * the first value outside [lo, hi]. False for anything else; the caller then takes JSON.parse's
 * path and its messages.
 */
export function readIntegerArray(bytes: Buffer, start: number, end: number, out: BigInt64Array | BigUint64Array, lo: bigint, hi: bigint): boolean | OutOfRange {
  let i = start;
  if (bytes[i++] !== C.Open) return false;
  while (i < end && isSpace(bytes[i])) i++;
  if (bytes[i] === C.Close) return i === end - 1 && out.length === 0;
  let n = 0;
  for (;;) {
    const from = i;
    if (bytes[i] === C.Minus) i++;
    if (!isDigit(bytes[i]) || (bytes[i] === C.Zero && isDigit(bytes[i + 1]))) return false; // JSON has no leading zeros
    const digitsFrom = i;
    while (i < end && isDigit(bytes[i])) i++;
    if (n === out.length) return false;
    if (i - digitsFrom > MAX_DIGITS) return { index: n, text: `${bytes.toString('latin1', from, from + MAX_DIGITS + 1)}… (${i - digitsFrom} digits)` };
    const value = BigInt(bytes.toString('latin1', from, i));
    if (value < lo || value > hi) return { index: n, text: String(value) };
    out[n++] = value as never;
    while (i < end && isSpace(bytes[i])) i++;
    if (bytes[i] === C.Comma) {
      i++;
      while (i < end && isSpace(bytes[i])) i++;
      continue;
    }
    return bytes[i] === C.Close && i === end - 1 && n === out.length;
  }
}
