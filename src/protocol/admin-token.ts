// The admin token guards the repository API (load / unload). Compared in constant time on
// SHA-256 digests, so neither its content nor its length leaks through timing.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../errors.js';

export class AdminToken {
  private readonly digest: Buffer;

  constructor(readonly token: string = randomBytes(18).toString('base64url')) {
    this.digest = createHash('sha256').update(token).digest();
  }

  /** Whether a presented token (bare or as `Bearer …`) is the admin token; constant time. */
  matches(presented: string | undefined): boolean {
    if (!presented) return false;
    return timingSafeEqual(createHash('sha256').update(presented.replace(/^Bearer\s+/i, '')).digest(), this.digest);
  }

  /** Checks an `Authorization: Bearer …` header value (or a bare token, as gRPC metadata carries it). */
  check(authorization: string | undefined): void {
    if (!authorization) throw new UnauthorizedError('this endpoint needs the admin token: send Authorization: Bearer <token>');
    const presented = authorization.replace(/^Bearer\s+/i, '');
    const digest = createHash('sha256').update(presented).digest();
    if (!timingSafeEqual(digest, this.digest)) throw new UnauthorizedError('the admin token is not valid');
  }
}
