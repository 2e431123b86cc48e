/**
 * Failed-login throttling that an attacker can neither outrun with parallel requests nor turn against the
 * real user. Every attempt is reserved (counted as a failure) before the password is checked and released
 * only when it succeeds, so N parallel guesses cannot all pass the check before any failure is recorded.
 *
 * Three counters, each over a sliding window:
 * - (account, address): the hard limit (default 5). Locks only that address out of that account.
 * - address: across accounts (default 20), against one address spraying many usernames.
 * - account: across addresses (default 100), against a guess spread over many addresses. It does not
 *   apply to an address that logged in to the account successfully before (the real user's), so flooding
 *   it from elsewhere cannot lock the owner out.
 * IPv6 addresses count per /64 (one subscriber's usual allocation), or a single host would have 2^64.
 */
import { isIPv6 } from 'node:net';

/** Limits per window. */
export interface LoginThrottleLimits {
  /** Failures per (account, address) pair. */
  perPair: number;
  /** Failures per address over all accounts. */
  perAddress: number;
  /** Failures per account over all addresses not known for it. */
  perAccount: number;
  /** Window length, ms. */
  windowMs: number;
  /** How long a successful address stays known for its account, ms (default 30 days). */
  knownForMs?: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginThrottleLimits = { perPair: 5, perAddress: 20, perAccount: 100, windowMs: 15 * 60_000 };

/** Which counter refused an attempt. */
export type ThrottleScope = 'pair' | 'address' | 'account';

/** An attempt admitted to the password check: counted as a failure until `succeeded` is called. */
export interface LoginReservation {
  /** The password was right: the reservation is withdrawn, the pair's failures forgotten, the address remembered. */
  succeeded(): void;
}

export type ReserveOutcome = { ok: true; reservation: LoginReservation } | { ok: false; scope: ThrottleScope; retryAfterS: number };

/** Most keys kept before entries with nothing recent are dropped (memory stays bounded under random names). */
const MAX_KEYS = 10_000;
/** Known addresses remembered per account; the oldest goes first. */
const MAX_KNOWN_PER_ACCOUNT = 16;

/** The address as it is counted: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64 prefix. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export class LoginThrottle {
  readonly #limits: Required<LoginThrottleLimits>;
  readonly #now: () => number;
  /** Attempt times (ms) per counter key, oldest first. */
  readonly #attempts = new Map<string, number[]>();
  /** account → address key → time of its last successful login (ms). */
  readonly #known = new Map<string, Map<string, number>>();

  constructor(limits: LoginThrottleLimits = DEFAULT_LOGIN_LIMITS, now: () => number = Date.now) {
    this.#limits = { knownForMs: 30 * 86_400_000, ...limits };
    this.#now = now;
  }

  /**
   * Admits an attempt of `account` from `address` or says which limit refuses it and after how many
   * seconds to retry. Synchronous, so two callers can never both take the last free attempt.
   */
  reserve(account: string, address: string): ReserveOutcome {
    const now = this.#now();
    const addr = addressKey(address);
    const keys: Array<[ThrottleScope, string, number]> = [
      ['pair', `pair:${account}\u0000${addr}`, this.#limits.perPair],
      ['address', `addr:${addr}`, this.#limits.perAddress],
    ];
    // The account-wide counter still counts failures from a known address, but never refuses one.
    const known = this.#isKnown(account, addr, now);
    const accountKey = `acct:${account}`;
    for (const [scope, key, limit] of known ? keys : [...keys, ['account', accountKey, this.#limits.perAccount] as [ThrottleScope, string, number]]) {
      const recent = this.#recent(key, now);
      if (recent.length >= limit) return { ok: false, scope, retryAfterS: Math.max(1, Math.ceil((recent[0]! + this.#limits.windowMs - now) / 1000)) };
    }
    const all = [...keys.map(([, key]) => key), accountKey];
    for (const key of all) this.#push(key, now);
    this.#prune(now);
    let settled = false;
    return {
      ok: true,
      reservation: {
        succeeded: () => {
          if (settled) return;
          settled = true;
          for (const key of all) this.#withdraw(key, now);
          // The owner's right password ends the pair's lock; other addresses' and the account's counts stay.
          this.#attempts.delete(keys[0]![1]);
          this.#remember(account, addr);
        },
      },
    };
  }

  #recent(key: string, now: number): number[] {
    const list = this.#attempts.get(key);
    if (!list) return [];
    const cutoff = now - this.#limits.windowMs;
    let drop = 0;
    while (drop < list.length && list[drop]! <= cutoff) drop++;
    if (drop > 0) list.splice(0, drop);
    if (list.length === 0) this.#attempts.delete(key);
    return list;
  }

  #push(key: string, at: number): void {
    const list = this.#attempts.get(key);
    if (list) list.push(at);
    else this.#attempts.set(key, [at]);
  }

  #withdraw(key: string, at: number): void {
    const list = this.#attempts.get(key);
    const i = list?.lastIndexOf(at) ?? -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.#attempts.delete(key);
  }

  #isKnown(account: string, addr: string, now: number): boolean {
    const at = this.#known.get(account)?.get(addr);
    return at !== undefined && at > now - this.#limits.knownForMs;
  }

  #remember(account: string, addr: string): void {
    let map = this.#known.get(account);
    if (!map) {
      if (this.#known.size >= MAX_KEYS) this.#known.delete(this.#known.keys().next().value!);
      map = new Map();
      this.#known.set(account, map);
    }
    map.delete(addr);
    map.set(addr, this.#now());
    if (map.size > MAX_KNOWN_PER_ACCOUNT) map.delete(map.keys().next().value!);
  }

  #prune(now: number): void {
    if (this.#attempts.size <= MAX_KEYS) return;
    const cutoff = now - this.#limits.windowMs;
    for (const [k, v] of this.#attempts) if ((v.at(-1) ?? 0) <= cutoff) this.#attempts.delete(k);
  }
}
