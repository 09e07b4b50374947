/**
 * Which `Host` headers and browser `Origin`s the dashboard answers.
 *
 * Why: the dashboard listens on loopback without a password by default, and
 * loopback alone does not keep web pages out. A page on
 * `http://evil.example:6052` whose DNS name is re-pointed at 127.0.0.1 (DNS
 * rebinding) is, to the browser, same-origin with itself: its requests and
 * WebSocket reach us with `Host: evil.example:6052` and a matching `Origin`,
 * so comparing Origin with Host proves nothing. What the attacker cannot
 * choose is a Host we recognise as ours, so every HTTP request and upgrade is
 * checked against a fixed list before any handler runs:
 *
 * - the loopback names and addresses (`localhost`, `127.0.0.0/8`, `[::1]`);
 * - the address the server listens on, and the address the connection
 *   actually arrived at (covers a wildcard bind reached by IP);
 * - the machine's own host name (`os.hostname()`, its first label, and
 *   `<label>.local` for mDNS);
 * - whatever the operator allows with `--allowed-host` /
 *   `DEVICE_BUILDER_ALLOWED_HOSTS` (a reverse proxy, Home Assistant ingress).
 *
 * Built-in names must carry our port (the port the connection arrived on;
 * no port means 80, as browsers omit it). An allowed host given without a
 * port matches any port (a proxy on 443 forwarding to us); with one, only it.
 * An IP literal cannot be rebound, but only our own addresses are accepted
 * all the same: there is no reason to answer for others.
 *
 * The Origin check (WebSocket upgrades) then compares scheme, host and port:
 * our server speaks plain http, so `https://127.0.0.1:PORT` is a different
 * origin, as is anything else not equal to `http://<Host>` or a
 * `--trusted-origin`.
 */
import { isIP } from 'node:net';
import os from 'node:os';
import { isHostName } from '../util/host-name.js';

/** A parsed `host[:port]`: lowercase name (IPv6 without brackets), port or null when absent. */
export interface HostPort {
  host: string;
  port: number | null;
}

/**
 * Parses a Host header value (or an `--allowed-host` entry): `name`,
 * `name:port`, `1.2.3.4:port`, `[::1]:port`. Names are lowercased and lose
 * a trailing dot. Returns null for anything else (userinfo, paths, bad
 * ports, bare IPv6 without brackets, empty).
 */
export function parseHostPort(value: string): HostPort | null {
  const text = value.trim().toLowerCase();
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
    if (isIP(host) !== 6) return null;
  } else {
    const plain = /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(text);
    if (!plain) return null;
    host = plain[1] ?? '';
    portText = plain[2];
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (isIP(host) !== 4 && !isHostName(host)) return null;
  }
  let port: number | null = null;
  if (portText !== undefined) {
    port = Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  }
  return { host, port };
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; lowercase; brackets dropped. */
function normalizeAddress(address: string): string {
  const lower = address.toLowerCase().replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  return mapped?.[1] ?? lower;
}

function isLoopbackAddress(host: string): boolean {
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

export interface HostPolicyOptions {
  /** The address given to listen() (may be a wildcard or a name). */
  listenHost: string;
  /** Extra `host` or `host:port` entries (already validated with {@link parseAllowedHosts}). */
  allowedHosts?: readonly string[];
  /** Defaults to `os.hostname()`; injectable for tests. */
  hostname?: string;
}

export class HostPolicy {
  private readonly ownNames = new Set<string>();
  private readonly extra: HostPort[];

  constructor(options: HostPolicyOptions) {
    this.ownNames.add('localhost');
    const listen = normalizeAddress(options.listenHost);
    if (!WILDCARDS.has(listen)) this.ownNames.add(listen);
    const machine = (options.hostname ?? os.hostname()).toLowerCase().replace(/\.$/, '');
    if (machine && isHostName(machine)) {
      const label = machine.split('.')[0] ?? machine;
      for (const name of [machine, label, `${label}.local`]) this.ownNames.add(name);
    }
    this.extra = (options.allowedHosts ?? []).map((entry) => {
      const parsed = parseHostPort(entry);
      if (!parsed) throw new Error(`invalid allowed host ${JSON.stringify(entry)}`);
      return parsed;
    });
  }

  /**
   * Whether a request with this `Host` header, arriving at `localAddress:localPort`,
   * is addressed to us. A missing or malformed header is not.
   */
  allows(hostHeader: string | undefined, localAddress: string | undefined, localPort: number | undefined): boolean {
    if (typeof hostHeader !== 'string') return false;
    const parsed = parseHostPort(hostHeader);
    if (!parsed) return false;
    for (const entry of this.extra) {
      if (entry.host === parsed.host && (entry.port === null || entry.port === (parsed.port ?? 80))) return true;
    }
    if (localPort === undefined || (parsed.port ?? 80) !== localPort) return false;
    if (this.ownNames.has(parsed.host) || isLoopbackAddress(parsed.host)) return true;
    return localAddress !== undefined && isIP(parsed.host) !== 0 && normalizeAddress(localAddress) === parsed.host;
  }
}

/**
 * `--allowed-host` values plus `DEVICE_BUILDER_ALLOWED_HOSTS` (comma or
 * space separated), validated. Throws with the offending entry.
 */
export function parseAllowedHosts(flags: readonly string[] | undefined, envValue: string | undefined): string[] {
  const entries = [...(flags ?? []), ...(envValue ?? '').split(/[\s,]+/)].map((entry) => entry.trim()).filter(Boolean);
  for (const entry of entries) {
    if (!parseHostPort(entry)) throw new Error(entry);
  }
  return [...new Set(entries.map((entry) => entry.toLowerCase()))];
}

/**
 * A browser's Origin must be our own page (`http://` + the Host it sent,
 * scheme, host and port compared after normalisation) or a trusted origin.
 * No Origin means not a browser: no cross-site risk (and the Host check has
 * already run). `null` and unparsable origins are refused.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, trusted: readonly string[]): boolean {
  if (origin === undefined) return true;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  if (parsed.origin === 'null') return false;
  if (trusted.includes(parsed.origin)) return true;
  if (host === undefined || !parseHostPort(host)) return false;
  let own: URL;
  try {
    own = new URL(`http://${host}`);
  } catch {
    return false;
  }
  return parsed.protocol === 'http:' && own.origin === parsed.origin;
}
