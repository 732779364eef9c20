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

export function loadInferenceProto(): grpc.GrpcObject {
  return grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS));
}

/** The service constructor, usable as a client: new (inferenceService())(address, credentials). */
export function inferenceService(): grpc.ServiceClientConstructor {
  return (loadInferenceProto().inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor;
}

export function loadReporterService(): grpc.ServiceClientConstructor {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(LOAD_PROTO_PATH, LOADER_OPTIONS));
  return (pkg.pareto as grpc.GrpcObject).LoadReporter as grpc.ServiceClientConstructor;
}
