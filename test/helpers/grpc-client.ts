// A promise-returning client for inference.GRPCInferenceService, from the same proto file.
import * as grpc from '@grpc/grpc-js';
import { inferenceService } from '../../src/protocol/grpc/proto.js';

export type GrpcCall = (method: string, request: object, metadata?: grpc.Metadata) => Promise<any>;

/** `options`: the channel's (message compression, for one). */
export function grpcClient(address: string, options?: grpc.ChannelOptions): { call: GrpcCall; close: () => void } {
  const Client = inferenceService();
  const client = new Client(address, grpc.credentials.createInsecure(), options) as grpc.Client & Record<string, Function>;
  const call: GrpcCall = (method, request, metadata = new grpc.Metadata()) =>
    new Promise((resolve, reject) => client[method](request, metadata, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res))));
  return { call, close: () => client.close() };
}
