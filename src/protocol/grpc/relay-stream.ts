// An HTTP/2 stream passed on whole to another HTTP/2 server over one client session: the request's
// headers and data up, the response's headers, data and trailers down, and a reset either way.
// Flow control holds end to end (each direction is piped). The gRPC thread (grpc-thread.ts) sends
// grpc-js every call it does not serve itself this way.
import http2 from 'node:http2';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

const drop = () => undefined;

export class RelayUpstream {
  private session: http2.ClientHttp2Session | undefined;
  private closed = false;

  constructor(private readonly origin: string) {}

  /** The session to the upstream, opened again once it is gone. */
  private upstream(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect(this.origin, { maxSessionMemory: Number.MAX_SAFE_INTEGER });
    session.on('error', drop); // each stream on it is closed, and says so below
    session.once('close', () => { if (this.session === session) this.session = undefined; });
    this.session = session;
    return session;
  }

  pass(down: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    if (this.closed) {
      down.close(NGHTTP2_CANCEL);
      return;
    }
    let up: http2.ClientHttp2Stream;
    try {
      up = this.upstream().request(headers, { endStream: false });
    } catch {
      down.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    down.on('error', drop);
    up.on('error', drop);
    let trailers: http2.IncomingHttpHeaders | undefined;
    up.once('response', (response, flags) => {
      if (down.destroyed || down.closed) return;
      // A trailers-only response (gRPC's status without a message) ends the stream at its headers.
      if (flags & NGHTTP2_FLAG_END_STREAM) {
        down.respond(response, { endStream: true });
        return;
      }
      down.respond(response, { waitForTrailers: true });
      down.once('wantTrailers', () => down.sendTrailers(trailers ?? {}));
      up.pipe(down);
    });
    up.once('trailers', (t) => { trailers = t; });
    down.pipe(up);
    // A reset (or a session gone) on either side resets the other; a stream that ended well ends both.
    up.once('close', () => {
      if (!down.closed && !down.destroyed && (up.rstCode ?? NGHTTP2_NO_ERROR) !== NGHTTP2_NO_ERROR) down.close(up.rstCode);
      else if (!down.closed && !down.destroyed && !down.headersSent) down.close(NGHTTP2_INTERNAL_ERROR);
    });
    down.once('close', () => {
      if (!up.closed && !up.destroyed) up.close(down.rstCode && down.rstCode !== NGHTTP2_NO_ERROR ? down.rstCode : NGHTTP2_CANCEL);
    });
  }

  close(): void {
    this.closed = true;
    this.session?.close();
  }
}
