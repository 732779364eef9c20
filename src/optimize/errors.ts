// Errors of the optimization pipeline: each names the model and, where one is at fault, the node.
export class UnsupportedModelError extends Error {
  readonly code = 'PARETO_ERR_UNSUPPORTED_MODEL';
}
