/** The app's configuration schema: what the frontend may read of the demo sign-in. */
export interface Config {
  auth?: {
    providers?: {
      /**
       * The demo sign-in (packages/backend/src/auth/demoProvider.ts), only in
       * app-config.demo.yaml. Its people are listed on the sign-in page.
       */
      demo?: {
        /**
         * The people a visitor may sign in as: catalog users, with a title
         * and a line on what they may do.
         * @deepVisibility frontend
         */
        users?: Array<{
          entityRef: string;
          title: string;
          description?: string;
        }>;
      };
    };
  };
}
