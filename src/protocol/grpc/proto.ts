// Loads the Open Inference Protocol's gRPC definition (for the server, and for clients in tests
// and benches).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_PATH = fileURLToPath(new URL('../../../../proto/grpc_service.proto', import.meta.url));

export function loadInferenceProto(): grpc.GrpcObject {
  const definition = protoLoader.loadSync(PROTO_PATH, {
    keepCase: true,
    longs: Number, // shapes and int64 parameters fit in a double for every real tensor
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition);
}

/** The service constructor, usable as a client: new (inferenceService())(address, credentials). */
export function inferenceService(): grpc.ServiceClientConstructor {
  return (loadInferenceProto().inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor;
}
