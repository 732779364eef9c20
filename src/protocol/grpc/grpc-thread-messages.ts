// Messages between the event loop and the gRPC thread (grpc-thread.ts, grpc-thread-host.ts). A
// call is known by the number the thread gave it; messages and answers cross as transferred
// ArrayBuffers.

/** A call's status as it crosses: its trailers as HTTP/2 headers. */
export interface WireStatus {
  code: number;
  details: string;
  trailers?: Record<string, string | string[]>;
}

export interface GrpcThreadData {
  host: string;
  port: number;
  /** grpc-js on the event loop, on loopback: where every stream but a plain ModelInfer goes. */
  relayPort: number;
  maxMessageBytes: number;
  /** mark-compact-pacer.ts's count, for this thread's heap. */
  gcEveryStreams: number;
}

/** From the thread. */
export type ThreadCall =
  | { op: 'listening'; port: number }
  | { op: 'failed'; message: string; code?: string }
  /** A ModelInfer call's headers have come: let it through or refuse it, before its message is read. */
  | { op: 'admit'; id: number; auth: string | undefined }
  /** Its message, whole: `bytes` holds it at `offset`. */
  | { op: 'infer'; id: number; bytes: ArrayBuffer; offset: number; length: number }
  /** The call is over (answered, refused, reset, past its deadline): whatever it holds is let go. */
  | { op: 'end'; id: number }
  /** A full collection of its heap has ended. */
  | { op: 'collected' }
  /** Closed: every session ended. */
  | { op: 'closed' };

/** To the thread. */
export type HostReply =
  | { op: 'admitted'; id: number; refused: boolean }
  /** A refusal (at its headers) or a failed inference. */
  | { op: 'status'; id: number; status: WireStatus }
  /** `spare`: memory for the thread's pool, of the size the call's message came in (buffer-pool.ts). */
  | { op: 'answer'; id: number; bytes: ArrayBuffer; spare?: ArrayBuffer }
  /** Stop taking connections; `force`: end every session now, else once its calls are done. */
  | { op: 'close'; force: boolean };
