import { InstalledPackage, PendingUpdate } from './types';

/** How a present KB is reported: KBs are there or not, they have no versions. */
export const KB_PRESENT = 'present';
/** How an absent KB is reported in a pending update's current version. */
export const KB_ABSENT = 'absent';

/**
 * Normalizes `KB5031356`, `kb5031356` or `5031356` to `KB5031356`.
 * @public
 */
export function normalizeKb(id: string): string | undefined {
  const m = /^(?:KB)?(\d{6,8})$/i.exec(id.trim());
  return m ? `KB${m[1]}` : undefined;
}

function asArray(value: unknown): unknown[] {
  if (value === null || value === undefined) return [];
  // ConvertTo-Json writes a single object, not an array of one.
  return Array.isArray(value) ? value : [value];
}

/**
 * Reads a DateTime as ConvertTo-Json writes it: an ISO string (PowerShell 7),
 * or `{ value: "/Date(ms)/", DateTime: "…" }` / `"/Date(ms)/"` (Windows PowerShell 5.1).
 * @public
 */
export function parsePowerShellDate(value: unknown): string | undefined {
  if (value && typeof value === 'object' && 'value' in value) {
    return parsePowerShellDate((value as { value: unknown }).value);
  }
  if (typeof value !== 'string' || !value) return undefined;
  const ms = /\/Date\((-?\d+)(?:[+-]\d{4})?\)\//.exec(value);
  const date = ms ? new Date(Number(ms[1])) : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * Parses `Get-HotFix | Select-Object HotFixID, Description, InstalledOn | ConvertTo-Json`
 * (properties of Win32_QuickFixEngineering). Each KB is an inventory entry
 * of the `windows-kb` ecosystem whose version is {@link KB_PRESENT}.
 * @public
 */
export function parseGetHotFixJson(text: string): InstalledPackage[] {
  if (!text.trim()) return [];
  const out = new Map<string, InstalledPackage>();
  for (const item of asArray(JSON.parse(text.replace(/^\uFEFF/, '')))) {
    const id = normalizeKb(
      String((item as { HotFixID?: unknown }).HotFixID ?? ''),
    );
    if (id)
      out.set(id, { ecosystem: 'windows-kb', name: id, version: KB_PRESENT });
  }
  return [...out.values()];
}

/**
 * Parses `wmic qfe list full /format:csv` (CRLF lines, a blank first line,
 * a header naming the Win32_QuickFixEngineering properties).
 * @public
 */
export function parseWmicQfeCsv(text: string): InstalledPackage[] {
  const lines = text
    .split(/\r?\n/)
    .map(l => l.replace(/\r$/, ''))
    .filter(l => l.trim());
  if (lines.length === 0) return [];
  const header = lines[0].split(',');
  const col = header.indexOf('HotFixID');
  if (col < 0) throw new Error('wmic qfe output has no HotFixID column');
  const out = new Map<string, InstalledPackage>();
  for (const line of lines.slice(1)) {
    const id = normalizeKb(line.split(',')[col] ?? '');
    if (id)
      out.set(id, { ecosystem: 'windows-kb', name: id, version: KB_PRESENT });
  }
  return [...out.values()];
}

/**
 * Parses pending updates as JSON, in either shape the provider can produce:
 * PSWindowsUpdate's `Get-WindowsUpdate | Select-Object KB, Title, Size, Status`
 * (`KB: "KB5034441"`), or the Windows Update Agent API's IUpdate read through
 * `Microsoft.Update.Session` (`KBArticleIDs: ["5034441"]`, `Title`).
 * Updates without a KB (e.g. some Defender definitions) are keyed by title.
 * @public
 */
export function parseWindowsUpdateJson(text: string): PendingUpdate[] {
  if (!text.trim()) return [];
  const out: PendingUpdate[] = [];
  for (const raw of asArray(JSON.parse(text.replace(/^\uFEFF/, '')))) {
    const item = raw as {
      KB?: string;
      KBArticleIDs?: string[] | string;
      Title?: string;
    };
    const ids = item.KB ? [item.KB] : asArray(item.KBArticleIDs).map(String);
    const id = ids.map(normalizeKb).find(Boolean);
    if (!id) continue;
    out.push({
      ecosystem: 'windows-kb',
      name: id,
      currentVersion: KB_ABSENT,
      availableVersion: KB_PRESENT,
      source: item.Title ? item.Title.slice(0, 256) : 'Windows Update',
    });
  }
  return out;
}
