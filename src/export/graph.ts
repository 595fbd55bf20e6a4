// A small builder for ONNX graphs: named nodes, weights as initializers, one serialisation
// through onnx-proto (the ONNX protobuf schema, v1.10). Opset 13, IR version 7; every
// tensor is float32 except shape and index constants (int64).
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
/** Attribute values: an integer, integers, a string, or { float } (ONNX types attributes strictly). */
export type AttrValue = number | number[] | string | { float: number };
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

export const OPSET = 13;
const IR_VERSION = 7;

/** A graph input or output: its element type and dims (a string names a dynamic dimension). */
export interface ValueSpec {
  name: string;
  type: 'float32' | 'int64';
  dims: (number | string)[];
}

export interface ModelInfo {
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  /** Free-form key/value pairs stored in the model (class names, routing, ...). */
  metadata?: Record<string, string>;
  docString?: string;
}

function bytesOf(a: Float32Array | BigInt64Array): Uint8Array {
  // ONNX raw_data is little-endian, as are the typed arrays of every platform Node runs on.
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  if (typeof v === 'object') return { name, type: AT.FLOAT, f: v.float };
  if (!Number.isInteger(v)) throw new Error(`ONNX attribute ${name}: ${v} is not an integer (give { float } for a float)`);
  return { name, type: AT.INT, i: v };
}

export class OnnxGraph {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly used = new Set<string>();

  /** A name not used before, from a readable base (module path, op type). */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Reserves a graph input's name. */
  input(name: string): string {
    if (this.used.has(name)) throw new Error(`ONNX graph: input name "${name}" is already used`);
    this.used.add(name);
    return name;
  }

  /** A float32 weight. */
  float(name: string, data: Float32Array, dims: readonly number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`ONNX graph: weight ${name} has ${data.length} values, dims [${dims.join(', ')}] need ${n}`);
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dataType: DT.FLOAT, dims: [...dims], rawData: bytesOf(data) });
    return unique;
  }

  /** An int64 constant (shapes, pads, axes, indices); dims [] is a scalar. */
  int64(name: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dataType: DT.INT64, dims: [...dims], rawData: bytesOf(BigInt64Array.from(values, BigInt)) });
    return unique;
  }

  /** Adds a node; returns the name of its single output, which is the node's own (unique) name. */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name: string = opType): string {
    const output = this.unique(name);
    this.nodes.push({ name: output, opType, input: inputs, output: [output], attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return output;
  }

  /** Renames the value `from` to the graph output `to` (an Identity node). */
  output(from: string, to: string): void {
    if (this.used.has(to)) throw new Error(`ONNX graph: output name "${to}" is already used`);
    this.used.add(to);
    this.nodes.push({ name: this.unique(`${to}.identity`), opType: 'Identity', input: [from], output: [to] });
  }

  /** The serialised ModelProto. */
  encode(info: ModelInfo): Uint8Array {
    const value = (v: ValueSpec): onnxProto.onnx.IValueInfoProto => ({
      name: v.name,
      type: {
        tensorType: {
          elemType: v.type === 'float32' ? DT.FLOAT : DT.INT64,
          shape: { dim: v.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
        },
      },
    });
    const model: onnxProto.onnx.IModelProto = {
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'spottune',
      docString: info.docString,
      graph: {
        name: 'spottune',
        node: this.nodes,
        initializer: this.initializers,
        input: info.inputs.map(value),
        output: info.outputs.map(value),
      },
      metadataProps: Object.entries(info.metadata ?? {}).map(([key, v]) => ({ key, value: v })),
    };
    return onnx.ModelProto.encode(model).finish();
  }
}
