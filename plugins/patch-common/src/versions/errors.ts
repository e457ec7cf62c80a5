/**
 * Thrown when a version string cannot be read in its ecosystem. The message
 * names the ecosystem, the string and the part that is wrong.
 * @public
 */
export class InvalidVersionError extends Error {
  /** The ecosystem the string was read in. */
  readonly ecosystem: string;
  /** The string as given. */
  readonly version: string;
  /** The part that is wrong, e.g. `epoch`, `revision`, `upstream version`. */
  readonly part: string;
  /** Why that part is wrong, e.g. `is empty`, `contains an invalid character`. */
  readonly reason: string;

  constructor(
    ecosystem: string,
    version: string,
    part: string,
    reason: string,
  ) {
    super(
      `Invalid ${ecosystem} version ${JSON.stringify(
        version,
      )}: ${part} ${reason}`,
    );
    this.name = 'InvalidVersionError';
    this.ecosystem = ecosystem;
    this.version = version;
    this.part = part;
    this.reason = reason;
  }
}

/**
 * The string as C code sees it: the reference implementations (dpkg, rpm)
 * walk UTF-8 bytes, so a non-ASCII character is several bytes above 0x7f,
 * never a letter. ASCII strings (the common case) come back unchanged;
 * others as a string of one char per UTF-8 byte, so that the comparison
 * code reads both the same way with charCodeAt. TextEncoder, not Buffer, so
 * that the frontend can use it too.
 * @internal
 */
export function bytesOf(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      return String.fromCharCode(...new TextEncoder().encode(s));
    }
  }
  return s;
}

/** @internal */
export const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** @internal */
export const isAlpha = (c: number) =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
