// Shutting down without resetting what was read. While draining: a connection with no request
// being answered (idle keep-alive, or headers only half sent) is closed at once; a request being
// answered finishes, and its answer says Connection: close; past the drain deadline every
// connection is closed. Before, SIGTERM under load reset requests on open keep-alive connections,
// and one client that had sent half its headers held the exit for more than 35 s.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ChurnSet } from '../../churn-set.js';

export class ConnectionDrain {
  private readonly sockets = new ChurnSet<Socket>();
  /** Sockets with a request being answered, and that answer. */
  private readonly answering = new WeakMap<Socket, ServerResponse>();
  private draining = false;

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.answering.delete(socket);
      });
    });
  }

  /** Called for every request as it arrives. */
  request(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    this.answering.set(socket, res);
    if (this.draining) res.setHeader('connection', 'close');
    res.once('finish', () => { if (this.answering.get(socket) === res) this.answering.delete(socket); });
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Begins the drain. Connections with nothing being answered are closed after one full turn of
   * the event loop: a request a client wrote before the signal may still sit unread in its socket's
   * buffer, and closing the connection then would reset a request the client saw as sent (one in
   * CI's gateway SIGTERM test). Read in that turn, it is answered, with Connection: close.
   */
  async begin(): Promise<void> {
    this.draining = true;
    for (const socket of this.sockets) {
      const res = this.answering.get(socket);
      if (res && !res.headersSent) res.setHeader('connection', 'close');
    }
    await pollOnce();
    for (const socket of this.sockets) if (!this.answering.has(socket)) socket.destroy();
  }

  /** Past the deadline: closes every connection left. */
  end(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  get open(): number {
    return this.sockets.size;
  }
}

/** Resolves after a poll phase that began after the call: the second check phase from now. */
const pollOnce = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
