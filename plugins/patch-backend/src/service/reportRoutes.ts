/*
 * Portal routes of the reports: the compliance hierarchy, drill-downs and
 * streamed exports (`patch.report.read`), and the audit export
 * (`patch.audit.read`). Each handler parses, authorizes through
 * authorize.ts, calls one ReportService method (or reads the audit trail)
 * and maps the result; exports are written by reportExport.ts.
 */
import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import { BasicPermission } from '@backstage/plugin-permission-common';
import {
  patchAuditReadPermission,
  patchReportReadPermission,
} from '@patchbay/plugin-patch-common';
import express from 'express';
import { AuditLog } from '../audit/AuditLog';
import {
  EXPORT_COLUMNS,
  ExportFormat,
  ReportExportName,
} from '../reports/export';
import { ReportNodeKind } from '../reports/hierarchy';
import { flatten, ReportService } from '../reports/ReportService';
import { actorOf } from './actor';
import { AuthorizeDeps, authorize } from './authorize';
import { writeExport } from './reportExport';
import { PatchRouter } from './typedRouter';

/** What the report routes use: authorize.ts's deps and the reports. */
export interface ReportRouteDeps extends AuthorizeDeps {
  /** The reports' domain service. */
  reports: ReportService;
  /** The audit trail: records exports and refusals, streams the audit export. */
  audit: AuditLog;
}

/** Checks a report permission through the one helper; returns the credentials. */
async function allowed(
  deps: ReportRouteDeps,
  req: Parameters<typeof authorize>[1],
  permission: BasicPermission,
  action: string,
): Promise<BackstageCredentials> {
  const { credentials } = await authorize(deps, req, permission, {
    action,
    targetType: permission === patchAuditReadPermission ? 'audit' : 'report',
  });
  return credentials;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function time(value: unknown, name: string): string | undefined {
  const text = str(value);
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new InputError(`${name} is not a date: ${text}`);
  return new Date(t).toISOString();
}

function int(value: unknown, fallback: number, max: number): number {
  const text = str(value);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new InputError(`Expected a positive integer, got ${text}`);
  }
  return Math.min(n, max);
}

function scopeOf(query: Record<string, unknown>) {
  return {
    node: str(query.node),
    system: str(query.system),
    group: str(query.group),
  };
}

function rangeOf(query: Record<string, unknown>) {
  const from = time(query.from, 'from');
  const to = time(query.to, 'to');
  if (from && to && from > to) throw new InputError('from is after to');
  return { from, to };
}

/**
 * Compliance reports (`patch.report.read`) and the audit export
 * (`patch.audit.read`). Exports stream; report exports and audit exports
 * are themselves audited, so who took which data out is on the record.
 */
export function registerReportRoutes(
  router: PatchRouter,
  deps: ReportRouteDeps,
): void {
  const { reports, audit } = deps;
  router.get('/reports/compliance', async (req, res) => {
    await allowed(deps, req, patchReportReadPermission, 'report-read');
    const query = req.query as Record<string, unknown>;
    res.json(
      (await reports.listNodes({
        kind: str(query.kind) as ReportNodeKind | undefined,
        parentRef: str(query.parent),
      })) as any,
    );
  });

  router.get('/reports/compliance/node', async (req, res) => {
    await allowed(deps, req, patchReportReadPermission, 'report-read');
    const query = req.query as Record<string, unknown>;
    const ref = str(query.ref);
    if (!ref) throw new InputError('ref is required');
    res.json(
      (await reports.nodeReport(ref, {
        trendDays: int(query.trendDays, 90, 400),
      })) as any,
    );
  });

  router.get('/reports/endpoints', async (req, res) => {
    await allowed(deps, req, patchReportReadPermission, 'report-read');
    const query = req.query as Record<string, unknown>;
    res.json(
      (await reports.endpoints(scopeOf(query), {
        limit: int(query.limit, 100, 1000),
        after: str(query.after),
      })) as any,
    );
  });

  router.get('/reports/endpoints/:endpointId', async (req, res) => {
    await allowed(deps, req, patchReportReadPermission, 'report-read');
    res.json((await reports.endpointReport(req.params.endpointId)) as any);
  });

  router.get('/reports/time-to-patch', async (req, res) => {
    await allowed(deps, req, patchReportReadPermission, 'report-read');
    const query = req.query as Record<string, unknown>;
    res.json(
      (await reports.timeToPatch({
        ...scopeOf(query),
        ...rangeOf(query),
      })) as any,
    );
  });

  router.get('/reports/sla', async (req, res) => {
    await allowed(deps, req, patchReportReadPermission, 'report-read');
    const q = req.query;
    const query = q as Record<string, unknown>;
    res.json(
      (await reports.sla({
        ...scopeOf(query),
        minRisk: q.minRisk,
        sort: q.sort,
      })) as any,
    );
  });

  router.get('/reports/export/:report', async (req, res) => {
    const credentials = await allowed(
      deps,
      req,
      patchReportReadPermission,
      'report-export',
    );
    const query = req.query as Record<string, unknown>;
    const report = req.params.report as ReportExportName;
    const format = (str(query.format) ?? 'csv') as ExportFormat;
    const filter = { ...scopeOf(query), ...rangeOf(query) };
    const rows = reports.exportRows(report, {
      ...filter,
      kind: str(query.kind) as ReportNodeKind | undefined,
    });
    await audit.record({
      actor: actorOf(credentials),
      action: 'report-export',
      outcome: 'succeeded',
      targetType: 'report',
      targetId: report,
      groupRef: str(query.group),
      systemRef: str(query.system),
      details: flatten({ format, ...filter }) as any,
      request: req,
    });
    await writeExport(res as unknown as express.Response, {
      format,
      filename: `patchbay-${report}`,
      columns: EXPORT_COLUMNS[report],
      rows,
    });
  });

  router.get('/audit/export', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const credentials = await allowed(
      deps,
      req,
      patchAuditReadPermission,
      'audit-export',
    );
    const format = (str(query.format) ?? 'csv') as ExportFormat;
    const range = rangeOf(query);
    const filter = {
      ...range,
      groupRef: str(query.group),
      systemRef: str(query.system),
      action: str(query.action),
      actor: str(query.actor),
    };
    // Recorded before the stream starts, so the export includes itself.
    await audit.record({
      actor: actorOf(credentials),
      action: 'audit-export',
      outcome: 'succeeded',
      targetType: 'audit',
      groupRef: filter.groupRef,
      systemRef: filter.systemRef,
      details: flatten({ format, ...filter }) as any,
      request: req,
    });
    await writeExport(res as unknown as express.Response, {
      format,
      filename: 'patchbay-audit',
      columns: EXPORT_COLUMNS.audit,
      rows: audit.stream(filter),
    });
  });
}
