// The model repository on disk: one folder per model with a model.yaml and a folder per variant.
// Knows files and configs only; loading into ONNX Runtime is the serving layer's job.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ModelConfigError, ModelNotFoundError } from '../errors.js';
import { readModelConfig, type ModelConfig } from './model-config.js';
import { readProfile, type Profile } from './profile.js';

export interface VariantFiles {
  name: string;
  onnxPath: string;
  profile?: Profile;
}

export interface ModelDefinition {
  config: ModelConfig;
  variants: VariantFiles[];
}

export class ModelRepository {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** Model names: folders that hold a model.yaml. */
  list(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .filter((name) => !name.startsWith('.') && existsSync(join(this.root, name, 'model.yaml')))
      .filter((name) => statSync(join(this.root, name)).isDirectory())
      .sort();
  }

  /** Reads and checks one model's config, variant files and (unless told not to) profiles. */
  read(name: string, opts: { profiles?: boolean } = {}): ModelDefinition {
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) throw new ModelNotFoundError(name);
    const dir = join(this.root, name);
    const configFile = join(dir, 'model.yaml');
    if (!existsSync(configFile)) throw new ModelNotFoundError(name);
    const config = readModelConfig(configFile, name);
    const variants = config.variants.map((v, i) => {
      const onnxPath = join(dir, v.name, v.file);
      if (!existsSync(onnxPath)) throw new ModelConfigError(configFile, `variants.${i}: file ${onnxPath} does not exist`);
      return { name: v.name, onnxPath, profile: opts.profiles === false ? undefined : readProfile(join(dir, v.name, 'profile.json')) };
    });
    return { config, variants };
  }
}
