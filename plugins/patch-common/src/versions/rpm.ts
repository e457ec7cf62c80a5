import { bytesOf, InvalidVersionError, isAlpha, isDigit } from './errors';

/**
 * An RPM version, `[epoch:]version[-release]`, split as rpm's parseEVR()
 * does.
 * @public
 */
export interface RpmVersion {
  ecosystem: 'rpm';
  /** The epoch digits, '' when absent (absent compares as 0). */
  epoch: string;
  /** The version. */
  version: string;
  /** The release; undefined when the string has no '-'. */
  release?: string;
}

const isAlnum = (c: number) => isDigit(c) || isAlpha(c);
const TILDE = 0x7e;
const CARET = 0x5e;

/**
 * rpm's rpmvercmp(): compares one version string segment by segment.
 * Separators (anything but ASCII letters, digits, '~' and '^') only split
 * segments; '~' sorts before everything, even the end of the string; '^'
 * sorts after the end but before anything else; a numeric segment beats an
 * alphabetic one; numeric segments compare by value with any number of
 * digits. It works on bytes like the C code, so every non-ASCII character
 * is a separator.
 * @internal
 */
export function rpmvercmp(as: string, bs: string): number {
  if (as === bs) return 0;
  const a = bytesOf(as);
  const b = bytesOf(bs);
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (
      i < a.length &&
      !isAlnum(a.charCodeAt(i)) &&
      a.charCodeAt(i) !== TILDE &&
      a.charCodeAt(i) !== CARET
    )
      i++;
    while (
      j < b.length &&
      !isAlnum(b.charCodeAt(j)) &&
      b.charCodeAt(j) !== TILDE &&
      b.charCodeAt(j) !== CARET
    )
      j++;

    const ac = i < a.length ? a.charCodeAt(i) : 0;
    const bc = j < b.length ? b.charCodeAt(j) : 0;
    if (ac === TILDE || bc === TILDE) {
      if (ac !== TILDE) return 1;
      if (bc !== TILDE) return -1;
      i++;
      j++;
      continue;
    }
    if (ac === CARET || bc === CARET) {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (ac !== CARET) return 1;
      if (bc !== CARET) return -1;
      i++;
      j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;

    const numeric = isDigit(a.charCodeAt(i));
    const inSegment = numeric ? isDigit : isAlpha;
    let ie = i;
    let je = j;
    while (ie < a.length && inSegment(a.charCodeAt(ie))) ie++;
    while (je < b.length && inSegment(b.charCodeAt(je))) je++;
    // b's segment is of the other type: a number beats letters.
    if (je === j) return numeric ? 1 : -1;
    if (numeric) {
      while (i < ie && a.charCodeAt(i) === 0x30) i++;
      while (j < je && b.charCodeAt(j) === 0x30) j++;
      const la = ie - i;
      const lb = je - j;
      if (la !== lb) return la > lb ? 1 : -1;
    }
    // strcmp of the segments.
    const la = ie - i;
    const lb = je - j;
    const n = Math.min(la, lb);
    for (let k = 0; k < n; k++) {
      if (a.charCodeAt(i + k) !== b.charCodeAt(j + k))
        return a.charCodeAt(i + k) < b.charCodeAt(j + k) ? -1 : 1;
    }
    if (la !== lb) return la < lb ? -1 : 1;
    i = ie;
    j = je;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

/**
 * Splits `[epoch:]version[-release]` as rpm's parseEVR(): the epoch is the
 * leading digits when a ':' follows them; the release starts after the last
 * '-'. With `strict`, also refuses what rpmbuild would refuse.
 * @internal
 */
export function parseRpmVersion(input: string, strict: boolean): RpmVersion {
  const fail = (part: string, reason: string): never => {
    throw new InvalidVersionError('rpm', input, part, reason);
  };
  if (input.length === 0) fail('version string', 'is empty');
  let k = 0;
  while (k < input.length && isDigit(input.charCodeAt(k))) k++;
  let epoch = '';
  let rest = input;
  if (input[k] === ':') {
    epoch = input.slice(0, k);
    rest = input.slice(k + 1);
  }
  const dash = rest.lastIndexOf('-');
  const version = dash >= 0 ? rest.slice(0, dash) : rest;
  const release = dash >= 0 ? rest.slice(dash + 1) : undefined;
  if (strict) {
    if (input[k] === ':' && k === 0) fail('epoch', 'is empty');
    if (version.length === 0) fail('version', 'is empty');
    if (release !== undefined && release.length === 0) {
      fail('release', 'is empty');
    }
    // rpmbuild allows letters, digits and ._+~^ in version and release.
    const bad = (s: string) => /[^A-Za-z0-9._+~^]/.exec(s);
    const bv = bad(version);
    if (bv)
      fail('version', `has an invalid character ${JSON.stringify(bv[0])}`);
    const br = release !== undefined ? bad(release) : null;
    if (br)
      fail('release', `has an invalid character ${JSON.stringify(br[0])}`);
  }
  return release === undefined
    ? { ecosystem: 'rpm', epoch, version }
    : { ecosystem: 'rpm', epoch, version, release };
}

/**
 * Compares two RPM EVRs: epoch (absent = 0), version, release, each with
 * rpmvercmp. A missing release sorts below any release, as libsolv and dnf
 * order them, so `1` < `1-1`.
 * @internal
 */
export function compareRpmParsed(a: RpmVersion, b: RpmVersion): number {
  const e = rpmvercmp(a.epoch || '0', b.epoch || '0');
  if (e) return e;
  const v = rpmvercmp(a.version, b.version);
  if (v) return v;
  if (a.release === undefined || b.release === undefined) {
    if (a.release === b.release) return 0;
    return a.release === undefined ? -1 : 1;
  }
  return rpmvercmp(a.release, b.release);
}

/**
 * Writes an RPM EVR back.
 * @internal
 */
export function formatRpmVersion(v: RpmVersion): string {
  return `${v.epoch ? `${v.epoch}:` : ''}${v.version}${
    v.release !== undefined ? `-${v.release}` : ''
  }`;
}
