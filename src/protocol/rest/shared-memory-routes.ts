// Triton's system shared-memory extension over REST: register, status and unregister a caller's
// own regions (src/serving/shared-memory.ts). CUDA shared memory needs a GPU, which Pareto does not
// use: its routes answer so, not with a bare 404.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvalidRequestError, UnsupportedError } from '../../errors.js';
import type { InferenceService } from '../../serving/inference-service.js';

type Named = FastifyRequest<{ Params: { name?: string } }>;

export function registerSharedMemory(app: FastifyInstance, service: InferenceService): void {
  const status = async (req: Named) => {
    const { regions, owner } = service.sharedMemoryOf(req.headers.authorization);
    return regions.status(owner, req.params.name);
  };
  app.get('/v2/systemsharedmemory/status', status);
  app.get('/v2/systemsharedmemory/region/:name/status', status);

  app.post('/v2/systemsharedmemory/region/:name/register', async (req: Named) => {
    const { regions, owner } = service.sharedMemoryOf(req.headers.authorization);
    const body = registerBody(req.body);
    regions.register(owner, req.params.name!, body.key, body.offset, body.byte_size);
    return {};
  });

  const unregister = async (req: Named) => {
    const { regions, owner } = service.sharedMemoryOf(req.headers.authorization);
    regions.unregister(owner, req.params.name);
    return {};
  };
  app.post('/v2/systemsharedmemory/unregister', unregister);
  app.post('/v2/systemsharedmemory/region/:name/unregister', unregister);

  const noCuda = async () => { throw new UnsupportedError('CUDA shared memory is not supported: Pareto runs on CPUs; use system shared memory (/v2/systemsharedmemory)'); };
  app.get('/v2/cudasharedmemory/status', noCuda);
  app.get('/v2/cudasharedmemory/region/:name/status', noCuda);
  app.post('/v2/cudasharedmemory/region/:name/register', noCuda);
  app.post('/v2/cudasharedmemory/unregister', noCuda);
  app.post('/v2/cudasharedmemory/region/:name/unregister', noCuda);
}

function registerBody(body: unknown): { key: string; offset: number; byte_size: number } {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : '');
  } catch {
    throw new InvalidRequestError('a register request needs a JSON body: {"key": "/name", "offset": 0, "byte_size": N}', 'PARETO_ERR_MALFORMED_JSON');
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  if (typeof o.key !== 'string') throw new InvalidRequestError('register: key must be a string, the shared-memory object\'s name');
  return { key: o.key, offset: o.offset === undefined ? 0 : Number(o.offset), byte_size: Number(o.byte_size) };
}
