/*
 * The shapes the UI works with. They follow the portal API of the patch
 * backend (plugins/patch-backend/src/schema/openapi.yaml); where a route had
 * not landed when a screen was written, the shape is the one its issue
 * describes, and the mapping lives in one place: DefaultPatchApi (its parts
 * by area under ./client). Each area's shapes have a file of their own.
 */
export * from './approvalTypes';
export * from './rolloutTypes';
export * from './auditTypes';
export * from './endpointTypes';
export * from './reportTypes';
