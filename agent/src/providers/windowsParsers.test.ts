import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  normalizeKb,
  parseGetHotFixJson,
  parsePowerShellDate,
  parseWindowsUpdateJson,
  parseWmicQfeCsv,
} from './windowsParsers';

const fixture = (name: string) =>
  readFileSync(join(__dirname, '../../fixtures/windows', name), 'utf8');

describe('Windows parsers on documented output formats', () => {
  it('reads Get-HotFix JSON from PowerShell 7 and 5.1 alike', () => {
    const ps7 = parseGetHotFixJson(fixture('get-hotfix.ps7.json'));
    expect(ps7.map(p => p.name)).toEqual([
      'KB5031589',
      'KB5032005',
      'KB5031988',
      'KB5032393',
    ]);
    expect(ps7[0]).toEqual({
      ecosystem: 'windows-kb',
      name: 'KB5031589',
      version: 'present',
    });
    const ps51 = parseGetHotFixJson(fixture('get-hotfix.ps51.json'));
    expect(ps51.map(p => p.name)).toEqual(['KB5031589', 'KB5032005']);
  });

  it('reads a single Get-HotFix object (not an array of one)', () => {
    expect(parseGetHotFixJson(fixture('get-hotfix.single.json'))).toHaveLength(
      1,
    );
    expect(parseGetHotFixJson('')).toEqual([]);
  });

  it('reads wmic qfe CSV with CRLF and a blank first line', () => {
    expect(parseWmicQfeCsv(fixture('wmic-qfe.csv')).map(p => p.name)).toEqual([
      'KB5031589',
      'KB5032005',
      'KB5032393',
    ]);
    expect(() => parseWmicQfeCsv('Node,Caption\r\nX,Y\r\n')).toThrow(
      /HotFixID/,
    );
  });

  it('reads pending updates from PSWindowsUpdate and from the Windows Update Agent API', () => {
    const ps = parseWindowsUpdateJson(
      fixture('get-windowsupdate.pswindowsupdate.json'),
    );
    // The Defender definition update has no KB column; it is not a KB install.
    expect(ps.map(u => u.name)).toEqual(['KB5033375', 'KB890830']);
    expect(ps[0]).toMatchObject({
      currentVersion: 'absent',
      availableVersion: 'present',
    });
    expect(ps[0].source).toMatch(/^2023-12 Cumulative Update/);
    const wua = parseWindowsUpdateJson(fixture('wua-search.json'));
    expect(wua.map(u => u.name)).toEqual(['KB5033375', 'KB5032007']);
    expect(
      parseWindowsUpdateJson(fixture('wua-search.single.json')).map(
        u => u.name,
      ),
    ).toEqual(['KB890830']);
  });

  it('reads both DateTime serializations', () => {
    expect(
      parsePowerShellDate({ value: '/Date(1700006400000)/', DateTime: 'x' }),
    ).toBe('2023-11-15T00:00:00.000Z');
    expect(parsePowerShellDate('2023-11-15T00:00:00Z')).toBe(
      '2023-11-15T00:00:00.000Z',
    );
    expect(parsePowerShellDate(null)).toBeUndefined();
  });

  it('normalizes KB ids', () => {
    expect(normalizeKb('kb5031356')).toBe('KB5031356');
    expect(normalizeKb('5031356')).toBe('KB5031356');
    expect(normalizeKb('KB5031356; rm -rf')).toBeUndefined();
  });
});
