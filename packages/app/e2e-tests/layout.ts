import { expect, Page } from '@playwright/test';

/** The two screen sizes every page must fit (issue: the portal as a person sees it). */
export const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 1440, height: 900 },
] as const;

/** What one page breaks, in words; empty when the page fits. */
export interface LayoutProblems {
  overflowingTables: string[];
  brokenWords: string[];
  narrowEmptyStates: string[];
}

/**
 * Measures a page's layout in the browser:
 * - every table fits its scrolling container and the window (no column,
 *   above all the row actions at the right, is off-screen or behind a
 *   horizontal scroll);
 * - no word of a table cell or header wraps inside itself ("Payme / nts");
 * - an empty state fills the width of its card.
 */
export async function layoutProblems(page: Page): Promise<LayoutProblems> {
  return page.evaluate(() => {
    const out = {
      overflowingTables: [] as string[],
      brokenWords: [] as string[],
      narrowEmptyStates: [] as string[],
    };
    const viewport = document.documentElement.clientWidth;
    const label = (el: Element) =>
      (
        el.closest('[class*="MuiPaper"]')?.querySelector('h2, h3, h4, h5, h6')
          ?.textContent ??
        el.getAttribute('aria-label') ??
        el.tagName
      ).trim();
    const visible = (el: Element) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    };

    for (const table of Array.from(document.querySelectorAll('table'))) {
      if (!visible(table)) continue;
      const rect = table.getBoundingClientRect();
      let container: HTMLElement | null = table.parentElement;
      while (container && container !== document.body) {
        const style = getComputedStyle(container);
        if (/(auto|scroll)/.test(style.overflowX)) break;
        container = container.parentElement;
      }
      const scrolls =
        container &&
        container !== document.body &&
        container.scrollWidth > container.clientWidth + 1;
      if (scrolls || rect.right > viewport + 1) {
        out.overflowingTables.push(
          `${label(table)}: ${Math.round(rect.width)} px wide, ${
            container ? container.clientWidth : viewport
          } px shown`,
        );
      }
      // Words broken across lines, in the first rows (enough to see a
      // column's width, cheap on long tables).
      const cells = Array.from(table.querySelectorAll('tr')).slice(0, 30);
      for (const row of cells) {
        for (const cell of Array.from(row.querySelectorAll('th, td'))) {
          const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            const text = n.textContent ?? '';
            // Segments between the places a line may break: spaces, and
            // after a hyphen or a slash ("debian12-" "libpng-" "1.6.39").
            const re = /[^\s\-/]+[-/]?/g;
            for (let m = re.exec(text); m; m = re.exec(text)) {
              if (m[0].length < 3) continue;
              const range = document.createRange();
              range.setStart(n, m.index);
              range.setEnd(n, m.index + m[0].length);
              const tops = new Set(
                Array.from(range.getClientRects())
                  .filter(r => r.width > 0)
                  .map(r => Math.round(r.top)),
              );
              if (tops.size > 1) {
                out.brokenWords.push(`${label(table)}: "${m[0]}"`);
              }
            }
          }
        }
      }
    }

    for (const empty of Array.from(
      document.querySelectorAll('[class*="BackstageEmptyState-root"]'),
    )) {
      if (!visible(empty)) continue;
      const card = empty.closest(
        '[class*="MuiCardContent"], [class*="MuiPaper"]',
      );
      if (!card) continue;
      const cardWidth = card.getBoundingClientRect().width;
      const width = empty.getBoundingClientRect().width;
      if (width < cardWidth * 0.85) {
        out.narrowEmptyStates.push(
          `${label(empty)}: ${Math.round(width)} of ${Math.round(
            cardWidth,
          )} px`,
        );
      }
    }
    out.brokenWords = Array.from(new Set(out.brokenWords));
    return out;
  });
}

/** The problems of a page as lines ("where: what"); none when it fits. */
export async function layoutLines(page: Page, where: string) {
  const p = await layoutProblems(page);
  return [
    ...p.overflowingTables.map(t => `${where}: table too wide: ${t}`),
    ...p.brokenWords.map(w => `${where}: word broken: ${w}`),
    ...p.narrowEmptyStates.map(e => `${where}: empty state narrow: ${e}`),
  ];
}

/** Fails with every layout problem of the pages seen, named. */
export function expectNoLayoutProblems(lines: string[]) {
  expect(lines, lines.join('\n')).toEqual([]);
}
