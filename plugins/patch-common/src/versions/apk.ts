import { InvalidVersionError } from './errors';

/**
 * An Alpine package version, `number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}`
 * (apk-package(5)), split into its parts.
 * @public
 */
export interface ApkVersion {
  ecosystem: 'apk';
  /** The dot-separated numbers, as written (leading zeros matter). */
  numbers: string[];
  /** The optional single lower-case letter after the numbers. */
  letter: string;
  /** Suffixes in order, e.g. `[{ name: 'rc', number: '1' }]`. */
  suffixes: Array<{ name: ApkSuffixName; number: string }>;
  /** The commit hash after '~', '' when absent. */
  hash: string;
  /** The package revision digits after '-r' ('' compares as 0). */
  revision: string;
  /** Whether the string has a '-r' revision part. */
  hasRevision: boolean;
  /** Whatever the grammar could not read, '' for a valid version. */
  rest: string;
}

/** Suffix names apk knows. @public */
export type ApkSuffixName =
  | 'alpha'
  | 'beta'
  | 'pre'
  | 'rc'
  | 'cvs'
  | 'svn'
  | 'git'
  | 'hg'
  | 'p';

// Pre-release suffixes sort below the plain version (weight 4), the others
// above it.
const SUFFIX_WEIGHT: Record<ApkSuffixName, number> = {
  alpha: 0,
  beta: 1,
  pre: 2,
  rc: 3,
  cvs: 5,
  svn: 6,
  git: 7,
  hg: 8,
  p: 9,
};
const NO_SUFFIX = 4;

const NUMBERS = /^(?:\d+\.?)*/;
const SUFFIX = /^_(alpha|beta|pre|rc|cvs|svn|git|hg|p)(\d*)/;
const HASH = /^~([0-9a-f]+)/;
const REVISION = /^-r(\d*)/;

/**
 * Reads an apk version part by part. What follows the last part it can
 * read is kept in `rest`; with `strict` a non-empty rest throws.
 * @internal
 */
export function parseApkVersion(input: string, strict: boolean): ApkVersion {
  const fail = (part: string, reason: string): never => {
    throw new InvalidVersionError('apk', input, part, reason);
  };
  if (input.length === 0) fail('version string', 'is empty');
  let s = input;
  const nm = NUMBERS.exec(s)![0];
  const numbers: string[] = [];
  for (const d of nm.split('.')) {
    // apk accepts a dot that no digit follows; it ends the numbers.
    if (d === '') break;
    numbers.push(d);
  }
  s = s.slice(nm.length);
  let letter = '';
  if (/^[a-z]/.test(s)) {
    letter = s[0];
    s = s.slice(1);
  }
  const suffixes: ApkVersion['suffixes'] = [];
  for (let m = SUFFIX.exec(s); m; m = SUFFIX.exec(s)) {
    suffixes.push({ name: m[1] as ApkSuffixName, number: m[2] });
    s = s.slice(m[0].length);
  }
  let hash = '';
  const hm = HASH.exec(s);
  if (hm) {
    hash = hm[1];
    s = s.slice(hm[0].length);
  }
  let revision = '';
  const rm = REVISION.exec(s);
  if (rm) {
    revision = rm[1];
    s = s.slice(rm[0].length);
  }
  if (strict) {
    if (numbers.length === 0) fail('version', 'does not start with a number');
    if (nm.endsWith('.') || nm.includes('..')) {
      fail('version', 'has a dot that no number follows');
    }
    if (rm && revision === '') fail('revision', 'has no number after -r');
    if (s.length > 0) {
      fail('version', `has an unreadable part ${JSON.stringify(s)}`);
    }
  }
  return {
    ecosystem: 'apk',
    numbers,
    letter,
    suffixes,
    hash,
    revision,
    hasRevision: !!rm,
    rest: s,
  };
}

function compareDigits(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length - 1 && a[i] === '0') i++;
  while (j < b.length - 1 && b[j] === '0') j++;
  const la = a.length - i;
  const lb = b.length - j;
  if (la !== lb) return la > lb ? 1 : -1;
  for (; i < a.length; i++, j++) {
    if (a[i] !== b[j]) return a[i] < b[j] ? -1 : 1;
  }
  return 0;
}

const compareStrings = (a: string, b: string) => {
  if (a === b) return 0;
  return a < b ? -1 : 1;
};

// Junk after a readable -r revision still leaves every part apk orders by;
// junk where the revision should be leaves no apk order at all.
const unreadableBeforeRevision = (v: ApkVersion) => !!v.rest && !v.hasRevision;

/**
 * Compares two apk versions: the numbers (the first by value; a later one
 * with a leading zero compares as a string, as apk and Gentoo do, so 1.01 <
 * 1.1), then the letter (none sorts first), the suffixes (alpha < beta < pre
 * < rc < none < cvs < svn < git < hg < p, then their numbers), the -r
 * revision, and last whether anything was left unread (a clean version sorts
 * above one with trailing junk). Two versions that both have unreadable
 * parts where the revision should be compare as plain strings, because apk
 * gives no order for them. The
 * commit hash does not take part: apk orders builds, not commits.
 * @internal
 */
export function compareApkParsed(
  a: ApkVersion,
  b: ApkVersion,
  rawA: string,
  rawB: string,
): number {
  if (unreadableBeforeRevision(a) && unreadableBeforeRevision(b)) {
    return compareStrings(rawA, rawB);
  }
  const n = Math.max(a.numbers.length, b.numbers.length);
  for (let k = 0; k < n; k++) {
    const x = a.numbers[k];
    const y = b.numbers[k];
    // A missing number is 0 (so 1.0 == 1).
    if (x === undefined || y === undefined || k === 0) {
      const r = compareDigits(x ?? '0', y ?? '0');
      if (r) return r;
      continue;
    }
    const r =
      x[0] === '0' || y[0] === '0' ? compareStrings(x, y) : compareDigits(x, y);
    if (r) return r;
  }
  if (a.letter !== b.letter) {
    if (!a.letter) return -1;
    if (!b.letter) return 1;
    return compareStrings(a.letter, b.letter);
  }
  const m = Math.max(a.suffixes.length, b.suffixes.length);
  for (let k = 0; k < m; k++) {
    const x = a.suffixes[k];
    const y = b.suffixes[k];
    const wx = x ? SUFFIX_WEIGHT[x.name] : NO_SUFFIX;
    const wy = y ? SUFFIX_WEIGHT[y.name] : NO_SUFFIX;
    if (wx !== wy) return wx > wy ? 1 : -1;
    const r = compareDigits(x?.number || '0', y?.number || '0');
    if (r) return r;
  }
  const r = compareDigits(a.revision || '0', b.revision || '0');
  if (r) return r;
  if (!a.rest && b.rest) return 1;
  if (a.rest && !b.rest) return -1;
  return 0;
}

/**
 * Writes an apk version back from its parts.
 * @internal
 */
export function formatApkVersion(v: ApkVersion): string {
  return `${v.numbers.join('.')}${v.letter}${v.suffixes
    .map(s => `_${s.name}${s.number}`)
    .join('')}${v.hash ? `~${v.hash}` : ''}${
    v.hasRevision ? `-r${v.revision}` : ''
  }${v.rest}`;
}
