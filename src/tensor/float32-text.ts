// JSON arrays of numbers read straight into a Float32Array, exactly as JSON.parse then a
// Float32Array store would read them (the decimal rounded to a double, the double to a float).
// A Float32 tensor sent through Python's json or JSON.stringify prints 16–17 significant digits,
// too many for the exact fast path of a decimal conversion (≤ 15), and V8's JSON.parse of one
// flat 25,088-number array (32 rows of MNIST) was most of that request's decode. Here each number
// is read into a double with a known small error; the float it rounds to is exact unless the
// double lies within that error of a halfway point between two floats (about 1 number in 2^20
// of any data, every one of a crafted array), and those are converted exactly by Number().

/** Powers of ten that are exact doubles. */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * The relative error a double read here may have: ≤ 10 roundings of 2^-53 (two for each digit
 * past the 15th, two for the scaling), and < 10^-18 for digits past the 19th, which are dropped.
 * 2^-46 is 12× that, and sends a number to Number() only in halfway cases real data does not hit.
 */
const MARGIN = 2 ** -46;

const enum C {
  Tab = 0x09, Lf = 0x0a, Cr = 0x0d, Space = 0x20, Plus = 0x2b, Comma = 0x2c, Minus = 0x2d, Dot = 0x2e,
  Zero = 0x30, Nine = 0x39, Open = 0x5b, Close = 0x5d, E = 0x45, LowerE = 0x65,
}

const isSpace = (c: number) => c === C.Space || c === C.Lf || c === C.Cr || c === C.Tab;
const isDigit = (c: number) => c >= C.Zero && c <= C.Nine;

/**
 * Reads the JSON array of numbers in `bytes[start, end)` (its `[` to its `]`, nothing else around
 * them) into `out`. False, with `out` partly written, when the text is anything but a flat array
 * of exactly `out.length` numbers in JSON's grammar: the caller then takes JSON.parse's path and
 * its messages.
 */
export function readFloat32Array(bytes: Buffer, start: number, end: number, out: Float32Array): boolean {
  let i = start;
  if (bytes[i++] !== C.Open) return false;
  while (i < end && isSpace(bytes[i])) i++;
  let n = 0;
  if (bytes[i] === C.Close) return i === end - 1 && out.length === 0;
  for (;;) {
    if (n === out.length) return false;
    // One number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
    const numberStart = i;
    let c = bytes[i];
    const negative = c === C.Minus;
    if (negative) c = bytes[++i];
    if (!isDigit(c)) return false;
    let mantissa = 0;
    let digits = 0; // significant digits taken into the mantissa
    let scale = 0; // the decimal exponent the mantissa's digits are off by
    if (c === C.Zero) {
      c = bytes[++i];
      if (isDigit(c)) return false; // no leading zeros
    } else {
      do {
        if (digits < 19) { mantissa = mantissa * 10 + (c - C.Zero); digits++; } else scale++;
        c = bytes[++i];
      } while (isDigit(c));
    }
    if (c === C.Dot) {
      c = bytes[++i];
      if (!isDigit(c)) return false;
      do {
        if (digits < 19) {
          // Leading zeros of a fraction (0.000123) are not significant.
          if (digits > 0 || c !== C.Zero) { mantissa = mantissa * 10 + (c - C.Zero); digits++; }
          scale--;
        }
        c = bytes[++i];
      } while (isDigit(c));
    }
    if (c === C.E || c === C.LowerE) {
      c = bytes[++i];
      let expNegative = false;
      if (c === C.Minus || c === C.Plus) { expNegative = c === C.Minus; c = bytes[++i]; }
      if (!isDigit(c)) return false;
      let exponent = 0;
      do {
        if (exponent < 100_000) exponent = exponent * 10 + (c - C.Zero);
        c = bytes[++i];
      } while (isDigit(c));
      scale += expNegative ? -exponent : exponent;
    }
    if (i > end) return false;
    out[n++] = float32Of(mantissa, scale, negative, bytes, numberStart, i);
    while (isSpace(c)) c = bytes[++i];
    if (c === C.Comma) {
      c = bytes[++i];
      while (isSpace(c)) c = bytes[++i];
      continue;
    }
    return c === C.Close && i === end - 1 && n === out.length;
  }
}

function float32Of(mantissa: number, scale: number, negative: boolean, bytes: Buffer, from: number, to: number): number {
  let v: number;
  if (mantissa === 0) v = 0;
  else if (scale >= 0 && scale <= 22) v = mantissa * POW10[scale];
  else if (scale < 0 && scale >= -22) v = mantissa / POW10[-scale];
  else if (scale < 0 && scale >= -44) v = mantissa / POW10[22] / POW10[-scale - 22];
  else if (scale > 0 && scale <= 44) v = mantissa * POW10[22] * POW10[scale - 22];
  else return exactly(bytes, from, to);
  if (negative) v = -v;
  const lo = Math.fround(v - Math.abs(v) * MARGIN);
  return lo === Math.fround(v + Math.abs(v) * MARGIN) ? lo : exactly(bytes, from, to);
}

/** The float of a number's text by the correctly rounded conversion JSON.parse uses. */
function exactly(bytes: Buffer, from: number, to: number): number {
  return Math.fround(Number(bytes.toString('latin1', from, to)));
}
