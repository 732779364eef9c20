// Dashboard sign-in without a token in any URL (URLs end up in logs, history and Referer headers):
// the page posts the admin token or an API key once, and gets an HttpOnly, SameSite=Strict cookie
// naming a random session. The session remembers who signed in, never the token. Bounded: the
// oldest session goes when a new one would pass the limit.
import { randomBytes } from 'node:crypto';

export const SESSION_COOKIE = 'pareto_dashboard';

export interface DashboardIdentity {
  /** Undefined for the admin. */
  tenant?: string;
}

interface Session extends DashboardIdentity {
  expires: number;
}

export class DashboardSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now, private readonly ttlMs = 12 * 3600_000, private readonly max = 1024) {}

  /** A new session for `who`; its id goes in the cookie. */
  open(who: DashboardIdentity): string {
    if (this.sessions.size >= this.max) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(24).toString('base64url');
    this.sessions.set(id, { ...who, expires: this.now() + this.ttlMs });
    return id;
  }

  /** Who the request's cookie header names, if its session is live. */
  identify(cookieHeader: string | undefined): DashboardIdentity | undefined {
    const id = sessionId(cookieHeader);
    const s = id === undefined ? undefined : this.sessions.get(id);
    if (!s) return undefined;
    if (s.expires < this.now()) {
      this.sessions.delete(id!);
      return undefined;
    }
    return { tenant: s.tenant };
  }

  close(cookieHeader: string | undefined): void {
    const id = sessionId(cookieHeader);
    if (id !== undefined) this.sessions.delete(id);
  }

  /** The Set-Cookie value for a session id (or for signing out, with no id). */
  static cookie(id: string | undefined, ttlMs = 12 * 3600_000): string {
    return `${SESSION_COOKIE}=${id ?? ''}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=${id ? Math.floor(ttlMs / 1000) : 0}`;
  }
}

function sessionId(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}
