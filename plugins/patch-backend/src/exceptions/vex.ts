/*
 * Active risk exceptions as an OpenVEX v0.2.0 document
 * (https://github.com/openvex/spec, OPENVEX-SPEC.md v0.2.0).
 *
 * One statement per exception and vulnerability (each CVE the patch fixes,
 * or the advisory id when it names none). The spec wants, for
 * `not_affected`, exactly one of `justification` or `impact_statement`;
 * for `affected`, an `action_statement` — here the compensating control.
 * The reason, approver and expiry go into `status_notes`.
 */
import { parseEntityRef } from '@backstage/catalog-model';
import { PatchEntity } from '@patchbay/plugin-patch-common';
import { createHash } from 'node:crypto';
import { RiskException } from './ExceptionStore';

/** The OpenVEX context of spec v0.2.0. */
export const OPENVEX_CONTEXT = 'https://openvex.dev/ns/v0.2.0';

/** An OpenVEX document (only the fields Patchbay writes). */
export interface VexDocument {
  '@context': string;
  '@id': string;
  author: string;
  role?: string;
  timestamp: string;
  version: number;
  tooling?: string;
  statements: VexStatement[];
}

/** One OpenVEX statement. */
export interface VexStatement {
  vulnerability: { name: string; aliases?: string[] };
  timestamp: string;
  products: Array<{ '@id': string }>;
  status: 'not_affected' | 'affected';
  status_notes?: string;
  justification?: string;
  impact_statement?: string;
  action_statement?: string;
}

/** An entity ref as an IRI: `urn:backstage:entity:<kind>:<namespace>:<name>`. */
export function entityIri(ref: string): string {
  const { kind, namespace, name } = parseEntityRef(ref);
  return `urn:backstage:entity:${encodeURIComponent(
    kind.toLocaleLowerCase('en-US'),
  )}:${encodeURIComponent(namespace)}:${encodeURIComponent(name)}`;
}

/** Builds the document; `undefined` when there is no statement (the spec needs one). */
export function buildVexDocument(options: {
  exceptions: RiskException[];
  patches: Map<string, PatchEntity>;
  author: string;
  now: Date;
}): VexDocument | undefined {
  const statements: VexStatement[] = [];
  for (const e of options.exceptions) {
    const patch = options.patches.get(e.patchRef);
    const names = patch?.spec.cves?.length
      ? patch.spec.cves
      : [patch?.spec.advisoryId ?? patch?.metadata.name ?? e.patchRef];
    for (const name of names) {
      const statement: VexStatement = {
        vulnerability: { name },
        timestamp: e.createdAt,
        products: [{ '@id': entityIri(e.scopeRef) }],
        status: e.vexStatus,
        status_notes: `Risk accepted by ${e.approver} until ${e.expiresAt} (patch ${e.patchRef}, exception ${e.id}): ${e.reason}`,
      };
      if (e.vexStatus === 'not_affected') {
        if (e.justification) statement.justification = e.justification;
        else {
          statement.impact_statement =
            e.impactStatement ??
            `Compensating control: ${e.compensatingControl}`;
        }
      } else {
        statement.action_statement =
          e.actionStatement ?? `Compensating control: ${e.compensatingControl}`;
      }
      statements.push(statement);
    }
  }
  if (statements.length === 0) return undefined;
  const digest = createHash('sha256')
    .update(JSON.stringify(statements))
    .digest('hex');
  return {
    '@context': OPENVEX_CONTEXT,
    '@id': `urn:patchbay:vex:${digest}`,
    author: options.author,
    role: 'Document Creator',
    timestamp: options.now.toISOString(),
    version: 1,
    tooling: 'Patchbay',
    statements,
  };
}
