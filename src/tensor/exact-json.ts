// JSON text in which tensor data is exact. JSON numbers have no size limit, but JSON.stringify
// writes only doubles, and a 64-bit integer past 2^53 is no double: 9007199254740993 came back
// as 9007199254740992, with status 200. Such data is written as its own digits instead, spliced
// in where a mark holds its place; the mark carries a random part, so no client text (a request
// id, a class label) can stand for it.
import { randomBytes } from 'node:crypto';
import { toJsonData, type Tensor } from './tensor.js';

const MARK = `pareto-exact-${randomBytes(8).toString('hex')}-`;
const MARKED = new RegExp(`"${MARK}(\\d+)"`, 'g');

export class ExactJson {
  private readonly texts: string[] = [];

  /** The value to put where the tensor's flat data goes. */
  data(t: Tensor): unknown {
    const plain = toJsonData(t);
    if (plain) return plain;
    this.texts.push(`[${(t.data as BigInt64Array).join(',')}]`);
    return `${MARK}${this.texts.length - 1}`;
  }

  stringify(value: unknown): string {
    const json = JSON.stringify(value);
    return this.texts.length === 0 ? json : json.replace(MARKED, (_, i: string) => this.texts[Number(i)]);
  }
}
