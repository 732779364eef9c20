// The models a front door can serve and their states: a ModelHost (sessions in this process) or,
// on a gateway, the models its workers report. REST, gRPC and the inference service see only this.
import type { LoadedModel, LoadedVariant, ModelStatus } from './model-host.js';

export interface ModelCatalog {
  /** The model, ready to serve; 404 if unknown, 503 if not ready. */
  get(name: string): LoadedModel;
  variant(model: LoadedModel, version: string | undefined): LoadedVariant;
  /** Known without I/O (for bounded metric labels on the hot path). */
  isKnown(name: string): boolean;
  has(name: string): boolean;
  index(): ModelStatus[];
  /** The models ready to serve now, without touching the disk (load reports ask twice a second). */
  ready(): LoadedModel[];
  load(name: string): Promise<ModelStatus>;
  unload(name: string): Promise<ModelStatus>;
}
