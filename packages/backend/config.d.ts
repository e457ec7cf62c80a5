/** Configuration read by the Patchbay backend package itself (packages/backend). */
export interface Config {
  patch?: {
    accessLog?: {
      /**
       * Whether the access log lists the agent routes
       * (`/api/patch/agent/v1/*`: check-ins, enrollments, uploads). Default
       * false: with a fleet they drown every other request.
       */
      agentRoutes?: boolean;
    };
  };
}
