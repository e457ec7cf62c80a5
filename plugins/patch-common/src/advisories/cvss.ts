/**
 * CVSS base scores from vector strings (v3.0/v3.1 and v2), by the formulas
 * in the FIRST specifications. OSV gives only the vector; the score is what
 * ranks a patch.
 */

const roundUp = (x: number) => {
  // CVSS v3.1 Roundup: the smallest number, to one decimal, >= x, computed
  // on integers to dodge floating point error.
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
};

const PR_UNCHANGED: Record<string, number> = { N: 0.85, L: 0.62, H: 0.27 };
const PR_CHANGED: Record<string, number> = { N: 0.85, L: 0.68, H: 0.5 };

const V3: Record<string, Record<string, number>> = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  C: { H: 0.56, L: 0.22, N: 0 },
  I: { H: 0.56, L: 0.22, N: 0 },
  A: { H: 0.56, L: 0.22, N: 0 },
};

function parseMetrics(parts: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of parts) {
    const [k, v] = p.split(':');
    if (k && v) m.set(k, v);
  }
  return m;
}

function v3Score(vector: string): number | undefined {
  const m = parseMetrics(vector.split('/').slice(1));
  const s = m.get('S');
  const pr = m.get('PR');
  const av = V3.AV[m.get('AV') ?? ''];
  const ac = V3.AC[m.get('AC') ?? ''];
  const ui = V3.UI[m.get('UI') ?? ''];
  const c = V3.C[m.get('C') ?? ''];
  const i = V3.I[m.get('I') ?? ''];
  const a = V3.A[m.get('A') ?? ''];
  if (
    (s !== 'U' && s !== 'C') ||
    [av, ac, ui, c, i, a].some(x => x === undefined)
  ) {
    return undefined;
  }
  // Privileges Required weighs more when the scope changes.
  const prValue = (s === 'C' ? PR_CHANGED : PR_UNCHANGED)[pr ?? ''];
  if (prValue === undefined) return undefined;
  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact =
    s === 'U' ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15;
  const exploitability = 8.22 * av * ac * prValue * ui;
  if (impact <= 0) return 0;
  return s === 'U'
    ? roundUp(Math.min(impact + exploitability, 10))
    : roundUp(Math.min(1.08 * (impact + exploitability), 10));
}

const V2: Record<string, Record<string, number>> = {
  AV: { L: 0.395, A: 0.646, N: 1.0 },
  AC: { H: 0.35, M: 0.61, L: 0.71 },
  Au: { M: 0.45, S: 0.56, N: 0.704 },
  C: { N: 0, P: 0.275, C: 0.66 },
  I: { N: 0, P: 0.275, C: 0.66 },
  A: { N: 0, P: 0.275, C: 0.66 },
};

function v2Score(vector: string): number | undefined {
  const m = parseMetrics(vector.replace(/^\(|\)$/g, '').split('/'));
  const vals = ['AV', 'AC', 'Au', 'C', 'I', 'A'].map(
    k => V2[k][m.get(k) ?? ''],
  );
  if (vals.some(x => x === undefined)) return undefined;
  const [av, ac, au, c, i, a] = vals;
  const impact = 10.41 * (1 - (1 - c) * (1 - i) * (1 - a));
  const exploitability = 20 * av * ac * au;
  const f = impact === 0 ? 0 : 1.176;
  return Math.round((0.6 * impact + 0.4 * exploitability - 1.5) * f * 10) / 10;
}

/**
 * A CVSS vector read: its version and base score. Vectors of v4 (whose
 * score needs the full MacroVector table) and malformed ones give
 * undefined.
 * @public
 */
export function cvssFromVector(
  vector: string,
):
  | { score: number; version: '2.0' | '3.0' | '3.1'; vector: string }
  | undefined {
  const v = vector.trim();
  const m = /^CVSS:(3\.[01])\//.exec(v);
  if (m) {
    const score = v3Score(v);
    return score === undefined
      ? undefined
      : { score, version: m[1] as '3.0' | '3.1', vector: v };
  }
  if (/^\(?AV:[LAN]\/AC:/.test(v)) {
    const score = v2Score(v);
    return score === undefined
      ? undefined
      : { score, version: '2.0', vector: v };
  }
  return undefined;
}

/**
 * The qualitative severity of a CVSS base score (v3 bands).
 * @public
 */
export function severityFromCvss(
  score: number,
): 'critical' | 'high' | 'medium' | 'low' {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  return 'low';
}
