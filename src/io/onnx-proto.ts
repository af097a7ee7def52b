// The subset of ONNX's protobuf schema (onnx/onnx.proto, IR version 7) needed to write an inference
// model, defined with protobufjs's reflection API — no generated code, no .proto file at run time.
//
// Field numbers and types are those of onnx.proto (checked against onnx/onnx.proto in the ONNX
// repository); fields we never write are left out, which protobuf allows. The schema is proto2:
// repeated scalars are unpacked unless onnx.proto says `[packed = true]`.

import * as protobuf from 'protobufjs';
import { FormatError } from './errors.js';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** IR version 7 goes with opset 13 (onnx/docs/Versioning.md). */
export const IR_VERSION = 7;

// ---------------------------------------------------------------------------------------------
// Plain objects mirroring the messages (camelCase field names, as protobufjs maps them)

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array; // little-endian, C order
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: number[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  attribute: AttributeProto[];
}

/** One dimension: a size, or a symbolic name for a size given at run time (e.g. 'batch'). */
export type Dimension = { dimValue: number } | { dimParam: string };

export interface ValueInfoProto {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: Dimension[] } } };
}

export interface GraphProto {
  node: NodeProto[];
  name: string;
  initializer: TensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
}

export interface ModelProto {
  irVersion: number;
  opsetImport: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: GraphProto;
  metadataProps?: { key: string; value: string }[];
}

// ---------------------------------------------------------------------------------------------
// The schema

type FieldSpec = [name: string, id: number, type: string, rule?: 'repeated', options?: Record<string, unknown>];

/** Unpacked, as proto2 encodes a repeated scalar without `[packed = true]`. */
const UNPACKED = { packed: false };

/**
 * A message type from onnx.proto's field list. Names are written as in onnx.proto (snake_case) and
 * registered in camelCase, the form the interfaces above use; the wire format only knows numbers.
 */
function message(name: string, fields: FieldSpec[]): protobuf.Type {
  const type = new protobuf.Type(name);
  for (const [fieldName, id, fieldType, rule, options] of fields) {
    type.add(new protobuf.Field(camelCase(fieldName), id, fieldType, rule ?? 'optional', undefined, options));
  }
  return type;
}

function camelCase(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function buildSchema(): protobuf.Root {
  const root = new protobuf.Root();
  const onnx = root.define('onnx');

  onnx.add(message('ModelProto', [
    ['ir_version', 1, 'int64'],
    ['producer_name', 2, 'string'],
    ['producer_version', 3, 'string'],
    ['domain', 4, 'string'],
    ['model_version', 5, 'int64'],
    ['doc_string', 6, 'string'],
    ['graph', 7, 'GraphProto'],
    ['opset_import', 8, 'OperatorSetIdProto', 'repeated'],
    ['metadata_props', 14, 'StringStringEntryProto', 'repeated'],
  ]));
  onnx.add(message('OperatorSetIdProto', [
    ['domain', 1, 'string'],
    ['version', 2, 'int64'],
  ]));
  onnx.add(message('StringStringEntryProto', [
    ['key', 1, 'string'],
    ['value', 2, 'string'],
  ]));
  onnx.add(message('GraphProto', [
    ['node', 1, 'NodeProto', 'repeated'],
    ['name', 2, 'string'],
    ['initializer', 5, 'TensorProto', 'repeated'],
    ['doc_string', 10, 'string'],
    ['input', 11, 'ValueInfoProto', 'repeated'],
    ['output', 12, 'ValueInfoProto', 'repeated'],
    ['value_info', 13, 'ValueInfoProto', 'repeated'],
  ]));
  onnx.add(message('NodeProto', [
    ['input', 1, 'string', 'repeated'],
    ['output', 2, 'string', 'repeated'],
    ['name', 3, 'string'],
    ['op_type', 4, 'string'],
    ['attribute', 5, 'AttributeProto', 'repeated'],
    ['doc_string', 6, 'string'],
    ['domain', 7, 'string'],
  ]));
  onnx.add(message('AttributeProto', [
    ['name', 1, 'string'],
    ['f', 2, 'float'],
    ['i', 3, 'int64'],
    ['s', 4, 'bytes'],
    ['t', 5, 'TensorProto'],
    ['floats', 7, 'float', 'repeated', UNPACKED],
    ['ints', 8, 'int64', 'repeated', UNPACKED],
    ['strings', 9, 'bytes', 'repeated'],
    ['doc_string', 13, 'string'],
    ['type', 20, 'int32'], // enum AttributeType; an enum is an int32 on the wire
  ]));
  onnx.add(message('TensorProto', [
    ['dims', 1, 'int64', 'repeated', UNPACKED],
    ['data_type', 2, 'int32'],
    ['float_data', 4, 'float', 'repeated', { packed: true }],
    ['int32_data', 5, 'int32', 'repeated', { packed: true }],
    ['int64_data', 7, 'int64', 'repeated', { packed: true }],
    ['name', 8, 'string'],
    ['raw_data', 9, 'bytes'],
    ['doc_string', 12, 'string'],
  ]));
  onnx.add(message('ValueInfoProto', [
    ['name', 1, 'string'],
    ['type', 2, 'TypeProto'],
    ['doc_string', 3, 'string'],
  ]));
  // TypeProto { oneof value { Tensor tensor_type = 1; ... } }: only the tensor case is defined.
  const typeProto = message('TypeProto', [
    ['tensor_type', 1, 'Tensor'],
    ['denotation', 6, 'string'],
  ]);
  typeProto.add(message('Tensor', [
    ['elem_type', 1, 'int32'],
    ['shape', 2, 'TensorShapeProto'],
  ]));
  onnx.add(typeProto);
  // TensorShapeProto { repeated Dimension dim = 1; } with Dimension { oneof value { dim_value = 1; dim_param = 2; } }
  const shapeProto = message('TensorShapeProto', [['dim', 1, 'Dimension', 'repeated']]);
  shapeProto.add(message('Dimension', [
    ['dim_value', 1, 'int64'],
    ['dim_param', 2, 'string'],
    ['denotation', 3, 'string'],
  ]));
  onnx.add(shapeProto);

  root.resolveAll();
  return root;
}

let schema: protobuf.Root | null = null;

function modelType(): protobuf.Type {
  schema ??= buildSchema();
  return schema.lookupType('onnx.ModelProto');
}

/** Serializes a model to the bytes of a .onnx file. */
export function encodeModel(model: ModelProto): Uint8Array {
  const type = modelType();
  const problem = type.verify(model);
  if (problem !== null) throw new Error(`ONNX model does not fit the schema: ${problem}`);
  return type.encode(type.fromObject(model)).finish();
}

/**
 * Parses .onnx bytes back (for tests and inspection); int64 fields come back as numbers. Malformed
 * bytes (truncated, a length past the end, a bad wire type) are a FormatError naming `source`.
 */
export function decodeModel(bytes: Uint8Array, source = 'ONNX model'): ModelProto {
  const type = modelType();
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch (e) {
    throw new FormatError(`${source}: not a valid ONNX model (${(e as Error).message})`);
  }
  return type.toObject(message, { longs: Number, bytes: Uint8Array, defaults: false, arrays: true }) as ModelProto;
}
