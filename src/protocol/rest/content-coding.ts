// HTTP content codings for inference bodies (tritonclient's request_compression_algorithm and
// response_compression_algorithm): gzip and deflate request bodies are inflated in libuv's thread
// pool, never past the limit a plain body has (a decompression bomb is a 413, its output never
// held beyond that); responses are gzipped or deflated when the client accepts it.
import { promisify } from 'node:util';
import { deflate, gunzip, gzip, inflate } from 'node:zlib';
import { MalformedEncodingError, UnsupportedEncodingError } from '../../errors.js';

const inflaters = { gzip: promisify(gunzip), deflate: promisify(inflate) };
const compressors = { gzip: promisify(gzip), deflate: promisify(deflate) };
type Coding = keyof typeof inflaters;

/** Responses smaller than this go uncompressed: the header and a thread-pool hop cost more. */
const COMPRESS_FROM_BYTES = 1024;

/** The request's coding (undefined: identity), or 415 for one Pareto does not decode. */
export function requestCoding(header: string | undefined): Coding | undefined {
  const coding = header?.trim().toLowerCase();
  if (!coding || coding === 'identity') return undefined;
  if (coding === 'gzip' || coding === 'x-gzip') return 'gzip';
  if (coding === 'deflate') return 'deflate';
  throw new UnsupportedEncodingError(coding);
}

/** The body decoded, or 413 once its decoded size would pass `limit` (or 400 if it is not valid). */
export async function decodeBody(body: Buffer, coding: Coding, limit: number, limitError: (size: number) => Error): Promise<Buffer> {
  try {
    return await inflaters[coding](body, { maxOutputLength: limit });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) throw limitError(limit + 1);
    throw new MalformedEncodingError(coding, (e as Error).message);
  }
}

/** The coding to answer with, from Accept-Encoding (gzip preferred), for a body this large. */
export function responseCoding(accept: string | undefined, size: number): Coding | undefined {
  if (!accept || size < COMPRESS_FROM_BYTES) return undefined;
  const offered = new Map(accept.toLowerCase().split(',').map((part) => {
    const [name, ...params] = part.trim().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return [name.trim(), q ? Number(q.slice(2)) : 1] as const;
  }));
  for (const c of ['gzip', 'deflate'] as const) if ((offered.get(c) ?? 0) > 0) return c;
  return undefined;
}

export const encodeBody = (body: Buffer | string, coding: Coding): Promise<Buffer> => compressors[coding](body);
