// The floor under a refusal: a bare node:http server that answers every request 429 with a short
// JSON error, as Pareto's early refusal does, minus the key and quota checks. Run as its own process.
import { createServer } from 'node:http';

const body = JSON.stringify({ error: "tenant 'x' is over its rate of 200 samples/s", code: 'PARETO_ERR_RATE_LIMITED' });
const server = createServer((req, res) => {
  res.writeHead(429, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' });
  res.end(body);
  req.resume();
});
server.listen(0, '127.0.0.1', () => console.log(`http_port=${(server.address() as { port: number }).port}`));
