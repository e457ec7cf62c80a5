import '@testing-library/jest-dom';
import { configure } from '@testing-library/react';

// jsdom has no ResizeObserver; recharts' ResponsiveContainer needs one to
// mount. The charts render at zero size in tests, which is all they need.
class NoopResizeObserver {
  observe() {}
  unobserve() {}
  disconnect() {}
}
(globalThis as any).ResizeObserver ??= NoopResizeObserver;

// Under a loaded CI machine (the whole suite runs in parallel workers) a
// screen can take longer than Testing Library's default second to show what
// a test waits for: a material-table detail panel once took longer. Wait up
// to ten seconds; a screen that never shows it still fails.
configure({ asyncUtilTimeout: 10_000 });
