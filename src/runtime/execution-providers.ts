// Which ONNX Runtime execution providers can really run here. onnxruntime-node lists CUDA and
// TensorRT as "supported, not bundled" on linux-x64: they work only where their provider library
// was installed next to the binding (the install step we skip downloads it), so look for it.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';

const PROVIDER_LIBRARY: Record<string, string> = {
  cuda: 'libonnxruntime_providers_cuda.so',
  tensorrt: 'libonnxruntime_providers_tensorrt.so',
};

function bindingDir(): string | undefined {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve('onnxruntime-node')), '..', 'bin');
  if (!existsSync(root)) return undefined;
  for (const napi of readdirSync(root)) {
    const dir = join(root, napi, process.platform, process.arch);
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

let cached: string[] | undefined;

export function availableProviders(): string[] {
  if (cached) return cached;
  const dir = bindingDir();
  cached = ort.listSupportedBackends()
    .filter((b) => b.bundled || (PROVIDER_LIBRARY[b.name] && dir && existsSync(join(dir, PROVIDER_LIBRARY[b.name]))))
    .map((b) => b.name);
  return cached;
}
