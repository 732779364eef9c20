// A flat JSON array of numbers that may also hold NaN, Infinity and -Infinity, as Triton reads
// tensor data (rapidjson's kParseNanAndInfFlag) and tritonclient writes it: Python's json.dumps
// prints a float tensor's NaN as the bare token NaN, and JSON.parse refused the whole body for it.
// Only a tensor's flat `data` array is read so; the rest of a body stays strict JSON.

const VALUE = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|NaN|-?Infinity)$/;
const SPACE = /^[ \t\r\n]+|[ \t\r\n]+$/g;

/** The numbers of `text` when it is such an array and holds at least one of the tokens; else undefined. */
export function parseNonFiniteArray(text: string): number[] | undefined {
  if (!/NaN|Infinity/.test(text)) return undefined;
  const array = text.replace(SPACE, '');
  if (array[0] !== '[' || array[array.length - 1] !== ']') return undefined;
  const inner = array.slice(1, -1).replace(SPACE, '');
  if (inner === '') return undefined;
  const out: number[] = [];
  for (const part of inner.split(',')) {
    const token = part.replace(SPACE, '');
    if (!VALUE.test(token)) return undefined;
    out.push(Number(token)); // as JSON.parse reads a number, and the three tokens as their values
  }
  return out;
}
