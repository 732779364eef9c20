// The HTTP ceiling: a bare fastify route that reads a body and answers with a fixed payload of a
// given size, with the same body parsing (raw buffer) as Pareto. Run as its own process.
import Fastify from 'fastify';

const responseBytes = Number(process.argv[2] ?? 64);
const reply = Buffer.alloc(responseBytes, 7);
const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
// Any path: the benches point their usual clients at it.
app.post('/*', async (req, res) => {
  res.header('inference-header-content-length', 16).type('application/octet-stream');
  return res.send(reply);
});
await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`http_port=${(app.server.address() as { port: number }).port}`);
