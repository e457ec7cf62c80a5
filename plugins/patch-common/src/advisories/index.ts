export * from './osv';
export * from './kev';
export * from './epss';
export { cvssFromVector, severityFromCvss } from './cvss';
