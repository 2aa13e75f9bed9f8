// basic_auth_users of the web config: HTTP Basic credentials checked against
// bcrypt hashes (bcryptjs). A bcrypt check costs tens of milliseconds by
// design, so a successful one is remembered: the key is an HMAC (with a key of
// this process's own) of user, password and hash, so the cache holds no
// password, and a changed hash or password never matches an old entry. Failed
// checks are not remembered (a guesser pays bcrypt every time). An unknown user
// is checked against a dummy hash so that the answer takes as long as for a
// known one.
import { createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';

const CACHE_MAX = 256;
// A cost-10 hash of a random password no one kept, compared for unknown
// users (and never accepted: an unknown user is refused whatever it matches).
const DUMMY_HASH = '$2b$10$lR0TBDqJ3op20omSZ9FUSe2EzZLHDWRsDPeGDydemvJr5LxaH2wAO';

export interface Credentials {
  user: string;
  password: string;
}

/** "Basic base64(user:password)" -> credentials; undefined when absent or malformed. */
export function parseBasicAuthorization(header: string | undefined): Credentials | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (m?.[1] === undefined) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

export class BasicAuth {
  private readonly hmacKey = randomBytes(32);
  /** Insertion-ordered: the oldest entry is evicted first. */
  private readonly verified = new Set<string>();

  constructor(private readonly users: ReadonlyMap<string, string>) {}

  get size(): number {
    return this.users.size;
  }

  /** True when the Authorization header carries a listed user and that user's password. */
  async check(authorization: string | undefined): Promise<boolean> {
    const creds = parseBasicAuthorization(authorization);
    if (creds === undefined) return false;
    const hash = this.users.get(creds.user);
    const key = this.cacheKey(creds, hash ?? DUMMY_HASH);
    if (hash !== undefined && this.verified.has(key)) return true;
    const ok = await bcrypt.compare(creds.password, hash ?? DUMMY_HASH);
    if (!ok || hash === undefined) return false;
    if (this.verified.size >= CACHE_MAX) {
      const oldest = this.verified.values().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.add(key);
    return true;
  }

  private cacheKey(creds: Credentials, hash: string): string {
    const mac = createHmac('sha256', this.hmacKey);
    // Lengths first: ("a:b", "c") and ("a", "b:c") must not collide.
    for (const part of [creds.user, creds.password, hash]) {
      const b = Buffer.from(part, 'utf8');
      mac.update(`${b.length}:`).update(b);
    }
    return mac.digest('base64');
  }
}
