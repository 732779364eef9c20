// JSON text in which tensor data is exact. JSON.stringify writes only finite doubles: a 64-bit
// integer past 2^53 is no double (9007199254740993 came back as 9007199254740992, with status 200),
// and NaN and ±Infinity all came back as null. Such data is written as its own text instead:
// 64-bit integers with every digit, and NaN, Infinity and -Infinity as Triton writes them (and
// Python's json reads them). The text is spliced in where a mark holds its place; the mark carries
// a random part, so no client text (a request id, a class label) can stand for it.
import { randomBytes } from 'node:crypto';
import { isFloat, toJsonData, type Tensor } from './tensor.js';

const MARK = `pareto-exact-${randomBytes(8).toString('hex')}-`;
const MARKED = new RegExp(`"${MARK}(\\d+)"`, 'g');

const numberText = (v: number) => (Number.isFinite(v) ? JSON.stringify(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity');

export class ExactJson {
  private readonly texts: string[] = [];

  /** The value to put where the tensor's flat data goes. */
  data(t: Tensor): unknown {
    const plain = toJsonData(t);
    if (plain && !(isFloat(t.datatype) && !(plain as number[]).every(Number.isFinite))) return plain;
    this.texts.push(plain ? `[${(plain as number[]).map(numberText).join(',')}]` : `[${(t.data as BigInt64Array).join(',')}]`);
    return `${MARK}${this.texts.length - 1}`;
  }

  stringify(value: unknown): string {
    const json = JSON.stringify(value);
    return this.texts.length === 0 ? json : json.replace(MARKED, (_, i: string) => this.texts[Number(i)]);
  }
}
