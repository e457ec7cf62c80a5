export * from './evaluatePatch';
export * from './release';
