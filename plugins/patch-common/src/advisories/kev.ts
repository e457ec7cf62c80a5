import type { PatchEntity } from '../entities/types';

/**
 * One CISA KEV entry, the fields Patchbay uses.
 * @public
 */
export interface KevEntry {
  cveID: string;
  dateAdded?: string;
  dueDate?: string;
  knownRansomwareCampaignUse?: string;
}

/**
 * The KEV catalog indexed by CVE id.
 * @public
 */
export type KevIndex = Map<string, KevEntry>;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Reads the CISA KEV catalog from its JSON form
 * (`{ catalogVersion, vulnerabilities: [{ cveID, dueDate, ... }] }`).
 * Entries without a CVE id are skipped; a document without a
 * `vulnerabilities` list throws.
 * @public
 */
export function parseKevJson(doc: unknown): KevIndex {
  const vulns = (doc as { vulnerabilities?: unknown } | null)?.vulnerabilities;
  if (!Array.isArray(vulns)) {
    throw new Error('KEV catalog has no vulnerabilities list');
  }
  const index: KevIndex = new Map();
  for (const v of vulns) {
    if (!v || typeof v !== 'object') continue;
    const e = v as Record<string, unknown>;
    if (typeof e.cveID !== 'string') continue;
    index.set(e.cveID.trim().toUpperCase(), {
      cveID: e.cveID.trim().toUpperCase(),
      dateAdded: typeof e.dateAdded === 'string' ? e.dateAdded : undefined,
      dueDate: typeof e.dueDate === 'string' ? e.dueDate : undefined,
      knownRansomwareCampaignUse:
        typeof e.knownRansomwareCampaignUse === 'string'
          ? e.knownRansomwareCampaignUse
          : undefined,
    });
  }
  return index;
}

/**
 * Splits CSV text into rows (RFC 4180: quoted fields may hold commas,
 * doubled quotes and line breaks).
 * @internal
 */
export function parseCsv(text: string, delimiter = ','): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter(r => r.length > 1 || r[0] !== '');
}

/**
 * Reads the CISA KEV catalog from its CSV form (header row with cveID,
 * dateAdded, dueDate, knownRansomwareCampaignUse among others).
 * @public
 */
export function parseKevCsv(text: string): KevIndex {
  const rows = parseCsv(text.replace(/^\uFEFF/, ''));
  const header = rows.shift();
  const col = (name: string) => header?.indexOf(name) ?? -1;
  const cve = col('cveID');
  if (cve < 0) throw new Error('KEV CSV has no cveID column');
  const added = col('dateAdded');
  const due = col('dueDate');
  const ransomware = col('knownRansomwareCampaignUse');
  const index: KevIndex = new Map();
  for (const r of rows) {
    const id = r[cve]?.trim().toUpperCase();
    if (!id) continue;
    index.set(id, {
      cveID: id,
      dateAdded: added >= 0 ? r[added] : undefined,
      dueDate: due >= 0 ? r[due] : undefined,
      knownRansomwareCampaignUse: ransomware >= 0 ? r[ransomware] : undefined,
    });
  }
  return index;
}

/**
 * Reads the KEV catalog from text in either form (JSON or CSV).
 * @public
 */
export function parseKev(text: string): KevIndex {
  const t = text.replace(/^\uFEFF/, '').trimStart();
  return t.startsWith('{') ? parseKevJson(JSON.parse(t)) : parseKevCsv(t);
}

/**
 * Sets `spec.knownExploited` (any fixed CVE is in KEV) and `spec.kevDueDate`
 * (the earliest KEV due date among them) on a copy of the patch.
 * @public
 */
export function enrichWithKev(patch: PatchEntity, kev: KevIndex): PatchEntity {
  const hits = (patch.spec.cves ?? [])
    .map(c => kev.get(c.toUpperCase()))
    .filter((e): e is KevEntry => !!e);
  const due = hits
    .map(e => e.dueDate)
    .filter((d): d is string => !!d && DATE.test(d))
    .sort()[0];
  const spec = { ...patch.spec, knownExploited: hits.length > 0 };
  if (due) spec.kevDueDate = due;
  else delete spec.kevDueDate;
  return { ...patch, spec };
}
