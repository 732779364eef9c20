// A gRPC client that is not grpc-js: Python's grpcio (gRPC's C core, which Triton's Python client is
// built on) calls ModelInfer on the raw HTTP/2 stream and the server answers it as grpc-js's own
// client is answered: plain, with a deadline, gzip-compressed (left to grpc-js), a message of many
// frames, and the errors.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { inferenceService } from '../../src/protocol/grpc/proto.js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { digits, startTestServer, type TestServer } from '../helpers/server.js';

const PYTHON = '/usr/bin/python3';

function grpcioMissing(): string | false {
  try {
    execFileSync(PYTHON, ['-c', 'import grpc'], { stdio: 'ignore' });
    return false;
  } catch {
    return process.env.CI ? false : 'python3-grpcio is not installed (run scripts/install-grpcio.sh)';
  }
}

const CLIENT = `
import base64, json, sys, grpc
port, messages = sys.argv[1], json.load(open(sys.argv[2]))
channel = grpc.insecure_channel('127.0.0.1:' + port)
infer = channel.unary_unary('/inference.GRPCInferenceService/ModelInfer')  # bytes in, bytes out
out = {}
def call(name, message, key='c-key', **options):
    metadata = [('authorization', 'Bearer ' + key)] if key else []
    try:
        body, c = infer.with_call(base64.b64decode(messages[message]), metadata=metadata, **options)
        out[name] = {'code': 'OK', 'body': base64.b64encode(body).decode()}
    except grpc.RpcError as e:
        out[name] = {'code': e.code().name, 'details': e.details(), 'trailers': dict(e.trailing_metadata() or [])}
call('plain', 'one')
call('deadline', 'one', timeout=30)
call('gzip', 'one', compression=grpc.Compression.Gzip)
call('many frames', 'many')
call('unknown model', 'unknown')
call('no key', 'one', key=None)
call('no key, many frames', 'many', key=None)  # refused before its 200 KB are read: the stream is reset after the status
call('wrong shape', 'bad shape')
call('after the refusals', 'one')
json.dump(out, sys.stdout)
`;

const { requestSerialize, responseDeserialize } = inferenceService(String).service.ModelInfer;
const request = (model: string, rows: number, columns = 784) => ({
  model_name: model,
  inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, columns] }],
  raw_input_contents: [Buffer.from(digits(0, rows).pixels.buffer, 0, rows * columns * 4)],
});

interface Outcome { code: string; body?: string; details?: string; trailers?: Record<string, string> }

let server: TestServer;
let dir: string;

describe('ModelInfer from gRPC\'s C-core client (Python grpcio)', { skip: grpcioMissing() }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pareto-grpcio-'));
    server = await startTestServer({ tenantsYaml: `tenants:\n  - { id: c, keys: ["${hashKey('c-key')}"], models: ["*"] }\n` });
  });
  after(async () => { await server.close(); rmSync(dir, { recursive: true, force: true }); });

  it('is answered as grpc-js\'s client is, and gets the same statuses', async () => {
    const messages = { one: request('mnist-mlp', 1), many: request('mnist-mlp', 64), unknown: request('no-such-model', 1), 'bad shape': request('mnist-mlp', 1, 783) };
    writeFileSync(join(dir, 'messages.json'), JSON.stringify(Object.fromEntries(Object.entries(messages).map(([k, v]) => [k, requestSerialize(v).toString('base64')]))));
    writeFileSync(join(dir, 'client.py'), CLIENT);
    const child = spawn(PYTHON, [join(dir, 'client.py'), String(server.grpcPort), join(dir, 'messages.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c; });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, stdout);
    const out = JSON.parse(stdout) as Record<string, Outcome>;

    // What grpc-js's client gets for the same messages.
    const client = grpcClient(server.grpcAddress);
    const metadata = new grpc.Metadata();
    metadata.set('authorization', 'Bearer c-key');
    const viaGrpcJs = (msg: object): Promise<{ raw_output_contents: Buffer[] }> => client.call('ModelInfer', msg, metadata);
    try {
      for (const [name, message] of [['plain', 'one'], ['deadline', 'one'], ['gzip', 'one'], ['many frames', 'many']] as const) {
        assert.equal(out[name].code, 'OK', `${name}: ${JSON.stringify(out[name])}`);
        const answer = responseDeserialize(Buffer.from(out[name].body!, 'base64')) as { model_name: string; raw_output_contents: Buffer[] };
        assert.equal(answer.model_name, 'mnist-mlp');
        assert.deepEqual(answer.raw_output_contents, (await viaGrpcJs(messages[message])).raw_output_contents, name);
      }
    } finally {
      client.close();
    }
    assert.equal(out['unknown model'].code, 'NOT_FOUND', JSON.stringify(out['unknown model']));
    assert.equal(out['unknown model'].trailers?.['pareto-error-code'], 'PARETO_ERR_MODEL_NOT_FOUND');
    assert.equal(out['no key'].code, 'UNAUTHENTICATED');
    assert.equal(out['no key, many frames'].code, 'UNAUTHENTICATED', JSON.stringify(out['no key, many frames']));
    assert.equal(out['after the refusals'].code, 'OK', 'the channel carries calls after them');
    assert.equal(out['wrong shape'].code, 'INVALID_ARGUMENT');
    assert.match(out['wrong shape'].details ?? '', /783/);
  });
});
