// JSON number arrays read straight into floats must give, bit for bit, what JSON.parse and a
// Float32Array store give, or refuse the text (the caller then takes JSON.parse's path).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { readFloat32Array } from '../../src/tensor/float32-text.js';

/** What JSON.parse then a Float32Array store make of `text`, or undefined where it is not a flat array of numbers. */
function reference(text: string): Float32Array | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'number')) return undefined;
  return Float32Array.from(parsed as number[]);
}

function read(text: string, count: number): Float32Array | undefined {
  const out = new Float32Array(count);
  return readFloat32Array(Buffer.from(text, 'latin1'), 0, text.length, out) ? out : undefined;
}

function assertSame(text: string): void {
  const want = reference(text);
  const got = read(text, want?.length ?? 1);
  if (want === undefined) {
    assert.equal(got, undefined, `accepted ${JSON.stringify(text)}`);
    return;
  }
  assert.ok(got, `refused ${JSON.stringify(text)}`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Object.is(got[i], want[i]), `${JSON.stringify(text)}[${i}]: ${got[i]} against ${want[i]}`);
  }
}

/** The exact decimal expansion of a finite double. */
function exactDecimal(x: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const bits = view.getBigUint64(0);
  const biased = Number(bits >> 52n);
  let mantissa = bits & ((1n << 52n) - 1n);
  let exponent = biased - 1075;
  if (biased === 0) exponent = -1074;
  else mantissa |= 1n << 52n;
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  if (exponent >= 0) return sign + (mantissa << BigInt(exponent)).toString();
  const digits = (mantissa * 5n ** BigInt(-exponent)).toString().padStart(-exponent + 1, '0');
  return `${sign}${digits.slice(0, digits.length + exponent)}.${digits.slice(digits.length + exponent)}`;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const floatOfBits = (bits: number) => { u32[0] = bits; return f32[0]; };

describe('JSON numbers read straight into floats', () => {
  it('reads any float32 as JSON.stringify prints it, bit for bit', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 64 }), (bits) => {
      const values = bits.map(floatOfBits).filter(Number.isFinite);
      assertSame(JSON.stringify(values));
    }), { numRuns: 500 });
  });

  it('reads any double, as its shortest form and in exponent form', () => {
    fc.assert(fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 32 }), (values) => {
      assertSame(JSON.stringify(values));
      assertSame(`[${values.map((v) => v.toExponential()).join(',')}]`);
    }), { numRuns: 500 });
  });

  it('reads any decimal text: long mantissas, far exponents, leading zeros in fractions', () => {
    const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
    const number = fc.tuple(fc.boolean(), fc.oneof(fc.constant('0'), fc.tuple(fc.integer({ min: 1, max: 9 }), digits(0, 30)).map(([a, b]) => `${a}${b}`)),
      fc.option(digits(1, 40)), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 400 }))))
      .map(([negative, int, frac, exp]) => `${negative ? '-' : ''}${int}${frac === null ? '' : `.${frac}`}${exp === null ? '' : `${exp[0]}${exp[1]}${exp[2]}`}`);
    fc.assert(fc.property(fc.array(number, { minLength: 1, maxLength: 16 }), (numbers) => assertSame(`[${numbers.join(',')}]`)), { numRuns: 1000 });
  });

  it('rounds halfway cases between two floats as JSON.parse does, and the numbers just beside them', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0x7f7ffffe }), (bits) => {
      const a = floatOfBits(bits);
      const mid = (a + floatOfBits(bits + 1)) / 2; // exact in a double
      const text = exactDecimal(mid);
      const [int, frac = ''] = text.split('.');
      const cut = frac.length > 20 ? `${int}.${frac.slice(0, 20)}` : text; // below the midpoint (or it)
      assertSame(`[${text},${text}1,${cut},-${text},${mid},${mid.toPrecision(17)},${mid.toPrecision(9)}]`);
    }), { numRuns: 2000 });
  });

  it('reads the edges of the float range', () => {
    assertSame('[3.4028234663852886e38,3.4028235677973366e38,3.4028235677973367e38,3.5e38,1e39,1e400,-1e400]');
    assertSame('[1.401298464324817e-45,7.006492321624085e-46,7.006492321624086e-46,1e-46,1e-400,-1e-400,1.1754943508222875e-38]');
    assertSame('[0,-0,0.0,-0.0,0e5,-0E-5,1,-1,123456789012345678901234567890,0.000000000000000000000000000001]');
    // Numbers of any length (read exactly, as the text's own decimal).
    assertSame(`[1${'0'.repeat(200_000)},0.${'0'.repeat(200_000)}1,${'3'.repeat(300)}e-290,1e99999999999]`);
  });

  it('refuses what is not a flat array of numbers in JSON grammar', () => {
    for (const text of ['[01]', '[1.]', '[.5]', '[+1]', '[1e]', '[1e+]', '[-]', '[1,]', '[,1]', '[1 2]', '[NaN]', '[Infinity]', '[--1]',
      '[1..2]', '[0x10]', '[1,,2]', '[1]]', '[[1]]', '["1"]', '[true]', '[null]', '1', '[1', '[ 1 ]x', '[1e5.5]', '[- 1]', '[1 .5]']) {
      assertSame(text);
    }
    assert.equal(read('[1,2]', 3), undefined, 'too few numbers');
    assert.equal(read('[1,2,3]', 2), undefined, 'too many numbers');
    assert.equal(read('[]', 1), undefined);
    assert.deepEqual(read('[ ]', 0), new Float32Array(0));
    assert.deepEqual(read('[ \n1 ,\t2\r ]', 2), Float32Array.of(1, 2));
  });
});
