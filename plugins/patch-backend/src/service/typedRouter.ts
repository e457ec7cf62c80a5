import type { PatchApiPaths } from '@patchbay/plugin-patch-common';
import type express from 'express';

/*
 * Handler types for the plugin's router, derived from the OpenAPI document.
 *
 * Why not `ApiRouter<typeof spec>` from @backstage/backend-openapi-utils: its
 * types re-derive the JSON schema of every route at every registration, and
 * with this document (40+ operations) that alone cost the type check about
 * 13.7 million instantiations, 3 GB of memory and minutes of CPU. The types
 * below come from the same YAML through openapi-typescript (the types the
 * typed client uses) and are computed once. Run-time validation is
 * unchanged: the router is still `createValidatedOpenApiRouter(spec)`.
 */

type Paths = PatchApiPaths;

type ToExpressPath<P extends string> =
  P extends `${infer Head}{${infer Param}}${infer Tail}`
    ? `${Head}:${Param}${ToExpressPath<Tail>}`
    : P;

type ExpressPaths = {
  [P in keyof Paths & string as ToExpressPath<P>]: Paths[P];
};

type Method = 'get' | 'post' | 'put' | 'delete' | 'patch';

type PathsWith<M extends Method> = {
  [E in keyof ExpressPaths]: [NonNullable<ExpressPaths[E][M]>] extends [never]
    ? never
    : E;
}[keyof ExpressPaths];

type Operation<E extends keyof ExpressPaths, M extends Method> = NonNullable<
  ExpressPaths[E][M]
>;

type JsonOf<T> = T extends { content: { 'application/json': infer B } }
  ? B
  : T extends { content: { [type: string]: infer B } }
  ? B
  : never;

/** The request body of an operation. */
export type RequestBodyOf<O> = O extends {
  requestBody?: infer R;
}
  ? JsonOf<NonNullable<R>>
  : unknown;

/** The union of an operation's response bodies. */
export type ResponseBodyOf<O> = O extends { responses: infer R }
  ? { [K in keyof R]: JsonOf<R[K]> }[keyof R]
  : unknown;

type PathParamsOf<O> = O extends { parameters: { path?: infer P } }
  ? [P] extends [undefined | never]
    ? {}
    : NonNullable<P>
  : {};

type QueryOf<O> = O extends { parameters: { query?: infer Q } }
  ? [Q] extends [undefined | never]
    ? {}
    : NonNullable<Q>
  : {};

/** A handler of one operation, typed from the OpenAPI document. */
export type OperationHandler<O> = (
  req: express.Request<
    PathParamsOf<O>,
    ResponseBodyOf<O>,
    RequestBodyOf<O>,
    QueryOf<O>
  >,
  res: express.Response<ResponseBodyOf<O>>,
  next: express.NextFunction,
) => unknown;

type Matcher<M extends Method> = <E extends PathsWith<M>>(
  path: E,
  ...handlers: OperationHandler<Operation<E, M>>[]
) => TypedPatchRouter;

/**
 * An express router whose route methods only accept the document's paths
 * and type each handler's params, query, body and response from it.
 * @internal
 */
export type TypedPatchRouter = Omit<express.Router, Method> & {
  get: Matcher<'get'>;
  post: Matcher<'post'>;
  put: Matcher<'put'>;
  delete: Matcher<'delete'>;
  patch: Matcher<'patch'>;
};

/**
 * The validated router every route module registers on (`router.ts` builds
 * it). Route modules import it from here, not from `router.ts`, which
 * imports them.
 * @internal
 */
export type PatchRouter = TypedPatchRouter;
