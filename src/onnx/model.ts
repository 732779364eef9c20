// Reading, inspecting and rewriting ONNX models (onnx-proto's ModelProto), for the transforms in
// optimize/. Initializers are read whether they use raw_data or the typed repeated fields.
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export type Model = onnxProto.onnx.ModelProto;
export type Node = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export const DataType = onnx.TensorProto.DataType;

/** A decoded graph: protobufjs always fills repeated fields, so they are never null here. */
export interface Graph {
  name?: string | null;
  node: Node[];
  initializer: TensorProto[];
  input: onnxProto.onnx.IValueInfoProto[];
  output: onnxProto.onnx.IValueInfoProto[];
  valueInfo: onnxProto.onnx.IValueInfoProto[];
}

export function graphOf(model: Model): Graph {
  return model.graph as Graph;
}

export class OnnxFormatError extends Error {
  readonly code = 'PARETO_ERR_ONNX_FORMAT';
}

export function decodeModel(bytes: Uint8Array, source = 'model'): Model {
  let model: Model;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxFormatError(`${source} is not a valid ONNX model: ${(e as Error).message}`);
  }
  if (!model.graph || !model.graph.node?.length) throw new OnnxFormatError(`${source} has no graph nodes; is it an ONNX model?`);
  return model;
}

export function readModel(path: string): Model {
  return decodeModel(readFileSync(path), path);
}

export function encodeModel(model: Model): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export function cloneModel(model: Model): Model {
  return decodeModel(encodeModel(model));
}

export function initializerMap(model: Model): Map<string, TensorProto> {
  return new Map(graphOf(model).initializer.map((t) => [t.name!, t]));
}

/** A float32 initializer's values (copied), or undefined if it is not float32. */
export function floatData(t: TensorProto): Float32Array | undefined {
  if (t.dataType !== DataType.FLOAT) return undefined;
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  }
  return Float32Array.from(t.floatData ?? []);
}

export function dims(t: TensorProto): number[] {
  return (t.dims ?? []).map(Number);
}

export function makeTensor(name: string, dimensions: number[], data: Float32Array | Int8Array | Uint8Array | Uint16Array | Int32Array | BigInt64Array, dataType: number): TensorProto {
  return onnx.TensorProto.create({ name, dims: dimensions, dataType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() });
}

export function floatTensor(name: string, dimensions: number[], data: Float32Array): TensorProto {
  return makeTensor(name, dimensions, data, DataType.FLOAT);
}

export function makeNode(opType: string, inputs: string[], outputs: string[], name: string, attrs: onnxProto.onnx.IAttributeProto[] = [], domain = ''): Node {
  return onnx.NodeProto.create({ opType, input: inputs, output: outputs, name, attribute: attrs, domain });
}

export function intAttr(name: string, i: number): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

/** The one node consuming `value`, if exactly one does. */
export function soleConsumer(model: Model, value: string): Node | undefined {
  const users = graphOf(model).node.filter((n) => n.input!.includes(value));
  return users.length === 1 ? users[0] : undefined;
}

export function isGraphOutput(model: Model, value: string): boolean {
  return graphOf(model).output.some((o) => o.name === value);
}

/** Removes initializers no node uses. */
export function dropUnusedInitializers(model: Model): void {
  const g = graphOf(model);
  const used = new Set(g.node.flatMap((n) => n.input!));
  g.initializer = g.initializer.filter((t) => used.has(t.name!));
}

/**
 * Moves the tensors of Constant nodes into initializers (exporters such as paddle2onnx keep
 * weights in Constant nodes), so transforms find every weight in one place.
 */
export function constantsToInitializers(model: Model): number {
  const g = graphOf(model);
  let moved = 0;
  g.node = g.node.filter((n) => {
    if (n.opType !== 'Constant') return true;
    const value = n.attribute?.find((a) => a.name === 'value' && a.t);
    if (!value?.t) return true;
    g.initializer.push({ ...value.t, name: n.output![0] });
    moved++;
    return false;
  });
  return moved;
}

/** Fixes a graph input's symbolic dimensions (after the batch axis) to sizes. */
export function fixInputShape(model: Model, sampleShape: number[]): void {
  const input = graphOf(model).input[0];
  const dim = input.type?.tensorType?.shape?.dim ?? [];
  if (dim.length !== sampleShape.length + 1) throw new OnnxFormatError(`input '${input.name}' has rank ${dim.length}, but the shape given has ${sampleShape.length} dimensions after the batch axis`);
  sampleShape.forEach((size, i) => { dim[i + 1] = { dimValue: size }; });
}
