// Loads the gRPC definitions: the Open Inference Protocol's service, and Pareto's load report
// (for the servers, and for clients in gateways, tests and benches).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_PATH = fileURLToPath(new URL('../../../../proto/grpc_service.proto', import.meta.url));
export const LOAD_PROTO_PATH = fileURLToPath(new URL('../../../../proto/pareto_load.proto', import.meta.url));

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number, // shapes and int64 parameters fit in a double for every real tensor
  enums: String,
  defaults: true,
  oneofs: true,
};

/**
 * `longs`: how 64-bit fields are read. Servers read them as decimal strings: int64_contents and
 * uint64_contents past 2^53 are no doubles (9007199254740993 read as Number is 9007199254740992),
 * and a tensor's data must be exactly what the client sent. Clients keep numbers.
 */
export function loadInferenceProto(longs: typeof Number | typeof String = Number): grpc.GrpcObject {
  return grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_PATH, { ...LOADER_OPTIONS, longs }));
}

/** The service constructor, usable as a client: new (inferenceService())(address, credentials). */
export function inferenceService(longs: typeof Number | typeof String = Number): grpc.ServiceClientConstructor {
  return (loadInferenceProto(longs).inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor;
}

export function loadReporterService(): grpc.ServiceClientConstructor {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(LOAD_PROTO_PATH, LOADER_OPTIONS));
  return (pkg.pareto as grpc.GrpcObject).LoadReporter as grpc.ServiceClientConstructor;
}
