import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * One problem found in an entity: the field (dotted path, e.g.
 * `spec.targets[0].fixedVersion`) and what is wrong with it.
 * @public
 */
export interface EntityValidationIssue {
  /** Dotted path of the field. */
  field: string;
  /** What is wrong. */
  message: string;
}

/**
 * Result of validating an entity of a Patchbay kind.
 * @public
 */
export type EntityValidationResult =
  | { valid: true; errors: [] }
  | { valid: false; errors: EntityValidationIssue[] };

/**
 * Thrown by the `check` of a Patchbay kind validator; the message starts with
 * the field that is wrong.
 * @public
 */
export class EntityValidationError extends TypeError {
  /** Every problem found. */
  readonly issues: EntityValidationIssue[];

  constructor(kind: string, issues: EntityValidationIssue[]) {
    super(
      `Invalid ${kind}: ${issues
        .map(i => `${i.field} ${i.message}`)
        .join('; ')}`,
    );
    this.name = 'EntityValidationError';
    this.issues = issues;
  }
}

// One Ajv instance for the three kinds: compiling is the expensive part, and
// the schemas are fixed at build time.
let ajv: Ajv | undefined;
function getAjv(): Ajv {
  if (!ajv) {
    ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
    addFormats(ajv);
  }
  return ajv;
}

/** Turns an Ajv instance path and error into the field a person would name. */
function fieldOf(error: ErrorObject): string {
  const segments = error.instancePath
    .split('/')
    .slice(1)
    .map(s => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (error.keyword === 'required') {
    segments.push(String(error.params.missingProperty));
  } else if (error.keyword === 'additionalProperties') {
    segments.push(String(error.params.additionalProperty));
  }
  let out = '';
  for (const s of segments) {
    if (/^\d+$/.test(s)) out += `[${s}]`;
    else out += out ? `.${s}` : s;
  }
  return out || '<root>';
}

function messageOf(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not an allowed field';
    case 'enum':
      return `must be one of ${(error.params.allowedValues as unknown[])
        .map(v => JSON.stringify(v))
        .join(', ')}`;
    default:
      return error.message ?? 'is invalid';
  }
}

/** Semantic rules the schema cannot say, checked after it passed. */
export type SemanticCheck = (data: any) => EntityValidationIssue[];

/**
 * Builds a validating function for one kind from its JSON schema.
 * @internal
 */
export function createKindValidator(
  schema: object,
  semantic?: SemanticCheck,
): (data: unknown) => EntityValidationResult {
  let compiled: ValidateFunction | undefined;
  return data => {
    if (!compiled) {
      compiled = getAjv().compile(schema);
    }
    if (!compiled(data)) {
      const seen = new Set<string>();
      const errors: EntityValidationIssue[] = [];
      for (const e of compiled.errors ?? []) {
        // anyOf/oneOf wrappers repeat what their branches said.
        if (e.keyword === 'anyOf' || e.keyword === 'if') continue;
        const issue = { field: fieldOf(e), message: messageOf(e) };
        const key = `${issue.field} ${issue.message}`;
        if (!seen.has(key)) {
          seen.add(key);
          errors.push(issue);
        }
      }
      if (errors.length === 0) {
        errors.push({ field: '<root>', message: 'does not match the schema' });
      }
      return { valid: false, errors };
    }
    const errors = semantic ? semantic(data) : [];
    return errors.length
      ? { valid: false, errors }
      : { valid: true, errors: [] };
  };
}

/**
 * The shape of Backstage's kind validators (as in scaffolder-common): `check`
 * returns false for entities of other kinds, true for valid ones, and throws
 * an {@link EntityValidationError} naming the field for invalid ones.
 * @public
 */
export interface PatchbayKindValidator {
  check(data: unknown): Promise<boolean>;
}

/** @internal */
export function createKindCheck(
  apiVersion: string,
  kind: string,
  validate: (data: unknown) => EntityValidationResult,
): PatchbayKindValidator {
  return {
    async check(data: unknown) {
      const d = data as { apiVersion?: unknown; kind?: unknown } | undefined;
      if (!d || d.apiVersion !== apiVersion || d.kind !== kind) {
        return false;
      }
      const result = validate(data);
      if (!result.valid) {
        throw new EntityValidationError(kind, result.errors);
      }
      return true;
    },
  };
}
