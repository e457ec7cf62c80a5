/*
 * The agent's word checked against its own evidence (CONTRACT §5): a
 * `succeeded` report whose per-package evidence shows any package of the
 * payload not fixed is stored as `failed`.
 */
import { JsonObject } from '@backstage/types';
import { JobResultReport } from './types';

/** The report as it is stored, and the packages it shows not fixed. @internal */
export function checkEvidence(
  payload: JsonObject | undefined,
  report: JobResultReport,
): { checked: JobResultReport; notFixed: string[] } {
  const notFixed = notFixedPackages(payload, report);
  if (notFixed.length === 0) return { checked: report, notFixed };
  return {
    checked: {
      ...report,
      status: 'failed',
      message: `Reported success, but not fixed: ${notFixed.join(', ')}${
        report.message ? ` (${report.message})` : ''
      }`,
    },
    notFixed,
  };
}

/**
 * Packages of the payload the agent's report does not show fixed, when it
 * reports per package (CONTRACT §5): one it marks `not-fixed` or `unknown`,
 * or one of the payload it does not mention. Empty for a failure (nothing
 * to correct) or a report without packages (an old agent; the inventory
 * decides then).
 */
function notFixedPackages(
  payload: JsonObject | undefined,
  report: JobResultReport,
): string[] {
  if (report.status !== 'succeeded' || !Array.isArray(report.packages))
    return [];
  const fixed = new Set(
    report.packages.filter(p => p.state === 'fixed').map(p => p.name),
  );
  const out = report.packages.filter(p => p.state !== 'fixed').map(p => p.name);
  const listed = Array.isArray(payload?.packages)
    ? (payload!.packages as unknown as Array<{ name?: unknown }>)
    : [];
  for (const p of listed) {
    const name = typeof p?.name === 'string' ? p.name : undefined;
    if (name && !fixed.has(name) && !out.includes(name)) out.push(name);
  }
  return out;
}
