import { bytesOf, InvalidVersionError, isAlpha, isDigit } from './errors';

/**
 * A Debian version, `[epoch:]upstream[-revision]`, as dpkg reads it.
 * @public
 */
export interface DebVersion {
  ecosystem: 'deb';
  /** The epoch, 0 when absent. */
  epoch: number;
  /** The upstream version. */
  upstream: string;
  /** The Debian revision, '' when absent. */
  revision: string;
}

const isBlank = (c: string) => c === ' ' || c === '\t';
const isSpace = (c: string) =>
  c === ' ' ||
  c === '\t' ||
  c === '\n' ||
  c === '\v' ||
  c === '\f' ||
  c === '\r';

/** dpkg stores the epoch as an int: larger values are rejected. */
const INT_MAX = 2147483647;

/**
 * Splits a Debian version the way dpkg's parseversion() does. Problems dpkg
 * treats as errors always throw; problems it only warns about (upstream not
 * starting with a digit, characters outside the allowed sets) throw only when
 * `strict` is set, because dpkg still orders such versions.
 * @internal
 */
export function parseDebVersion(input: string, strict: boolean): DebVersion {
  const fail = (part: string, reason: string): never => {
    throw new InvalidVersionError('deb', input, part, reason);
  };
  if (input.length === 0) fail('version string', 'is empty');
  // Leading blanks are skipped, trailing white space is allowed, white space
  // inside is not.
  let start = 0;
  while (start < input.length && isBlank(input[start])) start++;
  let end = start;
  while (end < input.length && !isSpace(input[end])) end++;
  for (let i = end; i < input.length; i++) {
    if (!isSpace(input[i])) fail('version string', 'has embedded spaces');
  }
  let s = input.slice(start, end);

  let epoch = 0;
  const colon = s.indexOf(':');
  if (colon >= 0) {
    // strtol: optional sign, then digits; the digits must end at the colon.
    const m = /^[ \t\n\v\f\r]*([+-]?)([0-9]*)/.exec(s)!;
    if (m[2].length === 0) fail('epoch', 'is empty or not a number');
    if (m[0].length !== colon) fail('epoch', 'is not a number');
    const value = Number(`${m[1]}${m[2]}`);
    if (value < 0) fail('epoch', 'is negative');
    if (value > INT_MAX) fail('epoch', 'is too big');
    if (colon === s.length - 1)
      fail('version', 'is empty after the epoch colon');
    epoch = value;
    s = s.slice(colon + 1);
  }

  let upstream = s;
  let revision = '';
  const hyphen = s.lastIndexOf('-');
  if (hyphen >= 0) {
    upstream = s.slice(0, hyphen);
    revision = s.slice(hyphen + 1);
    if (revision.length === 0) fail('revision', 'is empty');
  }
  if (upstream.length === 0) fail('upstream version', 'is empty');

  if (strict) {
    if (!isDigit(upstream.charCodeAt(0))) {
      fail('upstream version', 'does not start with a digit');
    }
    for (const ch of upstream) {
      const c = ch.charCodeAt(0);
      if (!isDigit(c) && !isAlpha(c) && !'.-+~:'.includes(ch)) {
        fail(
          'upstream version',
          `has an invalid character ${JSON.stringify(ch)}`,
        );
      }
    }
    for (const ch of revision) {
      const c = ch.charCodeAt(0);
      if (!isDigit(c) && !isAlpha(c) && !'.+~'.includes(ch)) {
        fail('revision', `has an invalid character ${JSON.stringify(ch)}`);
      }
    }
  }
  return { ecosystem: 'deb', epoch, upstream, revision };
}

/** dpkg's order(): digits 0, letters their code, '~' below everything, others after letters. */
function order(c: number): number {
  if (c === 0 || isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === 0x7e) return -1;
  // dpkg passes a signed char: a byte above 0x7f arrives negative, so
  // c + 256 gives the byte value itself.
  if (c > 0x7f) return c;
  return c + 256;
}

/**
 * dpkg's verrevcmp(): alternating non-digit and digit runs; non-digit runs
 * compare character by character with {@link order}, digit runs numerically
 * (leading zeros ignored, any length).
 * @internal
 */
export function verrevcmp(as: string, bs: string): number {
  const a = bytesOf(as);
  const b = bytesOf(bs);
  let i = 0;
  let j = 0;
  const at = (k: number) => (k < a.length ? a.charCodeAt(k) : 0);
  const bt = (k: number) => (k < b.length ? b.charCodeAt(k) : 0);
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while (
      (i < a.length && !isDigit(a.charCodeAt(i))) ||
      (j < b.length && !isDigit(b.charCodeAt(j)))
    ) {
      const ac = order(at(i));
      const bc = order(bt(j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (at(i) === 0x30) i++;
    while (bt(j) === 0x30) j++;
    while (isDigit(at(i)) && isDigit(bt(j))) {
      if (!firstDiff) firstDiff = at(i) - bt(j);
      i++;
      j++;
    }
    if (isDigit(at(i))) return 1;
    if (isDigit(bt(j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/**
 * Compares two parsed Debian versions as dpkg_version_compare() does:
 * epoch, then upstream, then revision.
 * @internal
 */
export function compareDebParsed(a: DebVersion, b: DebVersion): number {
  if (a.epoch !== b.epoch) return a.epoch > b.epoch ? 1 : -1;
  const r = verrevcmp(a.upstream, b.upstream);
  if (r) return r;
  return verrevcmp(a.revision, b.revision);
}

/**
 * Writes a Debian version back; `0:` and an empty revision are left out, so
 * a canonical string survives a round trip unchanged.
 * @internal
 */
export function formatDebVersion(v: DebVersion): string {
  return `${v.epoch ? `${v.epoch}:` : ''}${v.upstream}${
    v.revision ? `-${v.revision}` : ''
  }`;
}
