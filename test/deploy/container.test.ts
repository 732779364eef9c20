// The container image, built and started on this machine (#18): deploy/Dockerfile built with
// buildah from a base made of Debian's packages and Node's npm package (scripts/build-image.sh),
// then the image's own entrypoint run in it (buildah run, chroot isolation: OCI runtimes cannot
// make containers here) and asked for health and one inference over loopback. Skipped, naming the
// missing tool, where buildah or debootstrap is not installed (.ci/run does not install them: the
// first build takes ~3 minutes).
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { onPath } from '../../src/on-path.js';
import { argmax, binaryInfer, digits, parseBinaryResponse } from '../helpers/server.js';

const ROOT = new URL('../../..', import.meta.url).pathname;
const TAG = 'localhost/pareto:test';
const ENV = { ...process.env, STORAGE_DRIVER: 'vfs', BUILDAH_ISOLATION: 'chroot' };

function missing(): string | false {
  if (process.platform !== 'linux') return 'the image is built with buildah, on Linux only';
  if (process.getuid?.() !== 0) return 'buildah here needs root (vfs storage, chroot isolation)';
  for (const tool of ['buildah', 'debootstrap']) {
    if (!onPath(tool)) return `${tool} is not installed (Debian: apt-get install buildah debootstrap)`;
  }
  return false;
}

describe('the container image', { skip: missing(), timeout: 900_000 }, () => {
  let container = '';
  let server: ChildProcess | undefined;
  let origin = '';

  before(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/build-image.sh'), TAG], { cwd: ROOT, env: ENV, stdio: ['ignore', 'ignore', 'inherit'], timeout: 840_000 });
    const image = JSON.parse(execFileSync('buildah', ['inspect', '--type', 'image', TAG], { env: ENV }).toString()) as { OCIv1: { config: { Entrypoint: string[] } } };
    const entrypoint = image.OCIv1.config.Entrypoint;
    container = execFileSync('buildah', ['from', TAG], { env: ENV }).toString().trim().split('\n').pop()!;
    // Its own entrypoint, as `docker run <image> serve …` would run it.
    server = spawn('buildah', ['run', '--isolation', 'chroot', container, '--', ...entrypoint, 'serve', '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn'], { env: ENV, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    origin = await new Promise<string>((resolve, reject) => {
      createInterface({ input: server!.stdout! }).on('line', (line) => {
        const m = /^http_port=(\d+)$/.exec(line);
        if (m) resolve(`http://127.0.0.1:${m[1]}`);
      });
      server!.once('exit', (code) => reject(new Error(`the image's server exited with ${code} before it was serving`)));
    });
  });

  after(() => {
    if (server?.pid) try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ }
    if (container) execFileSync('buildah', ['rm', container], { env: ENV, stdio: 'ignore' });
  });

  it('starts with its entrypoint, reports ready, and answers an inference', async () => {
    const ready = await fetch(`${origin}/v2/health/ready`);
    assert.equal(ready.status, 200);
    const { pixels, labels } = digits(0, 1);
    const { body, headers } = binaryInfer(pixels, 1);
    const res = await fetch(`${origin}/v2/models/mnist-mlp/versions/fp32/infer`, { method: 'POST', body: new Uint8Array(body), headers });
    assert.equal(res.status, 200);
    const { binary } = parseBinaryResponse(Buffer.from(await res.arrayBuffer()), Number(res.headers.get('inference-header-content-length')));
    const logits = new Float32Array(binary.buffer.slice(binary.byteOffset, binary.byteOffset + binary.byteLength));
    assert.equal(argmax(logits), labels[0]);
  });
});
