// A small builder for ONNX graphs: enough to export the models we train here
// (MatMul/Add/Relu/Conv/...) and the transforms in optimize/. onnx-proto carries the schema.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type OnnxElemType = 'float32' | 'float16' | 'int8' | 'uint8' | 'int32' | 'int64';

const ELEM: Record<OnnxElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
};

export interface ValueSpec {
  name: string;
  type: OnnxElemType;
  /** A string is a symbolic dimension (e.g. 'batch'). */
  shape: Array<number | string>;
}

export type Attribute = number | number[] | string | Float32Array;

function valueInfo(v: ValueSpec): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ELEM[v.type],
        shape: { dim: v.shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function attribute(name: string, value: Attribute): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if (value instanceof Float32Array) return { name, type: T.FLOATS, floats: Array.from(value) };
  return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  /** A fresh, unique value name with a readable prefix. */
  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  initializer(name: string, dims: number[], data: Float32Array | Int32Array | BigInt64Array | Int8Array | Uint8Array): string {
    const tensor: onnxProto.onnx.ITensorProto = { name, dims };
    if (data instanceof Float32Array) tensor.dataType = ELEM.float32;
    else if (data instanceof Int32Array) tensor.dataType = ELEM.int32;
    else if (data instanceof BigInt64Array) tensor.dataType = ELEM.int64;
    else if (data instanceof Int8Array) tensor.dataType = ELEM.int8;
    else tensor.dataType = ELEM.uint8;
    // raw_data is little-endian, which is what typed arrays hold on every platform Node supports.
    tensor.rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.initializers.push(tensor);
    return name;
  }

  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, Attribute> = {}, domain = ''): string[] {
    this.nodes.push({
      opType,
      domain,
      input: inputs,
      output: outputs,
      name: this.fresh(opType.toLowerCase()),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** One node with one fresh output; returns that output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, Attribute> = {}): string {
    const [out] = this.node(opType, inputs, [this.fresh(opType.toLowerCase())], attrs);
    return out;
  }

  build(inputs: ValueSpec[], outputs: ValueSpec[], opset = 17): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'pareto',
      producerVersion: '0.1.0',
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: inputs.map(valueInfo),
        output: outputs.map(valueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
