/*
 * The demo's sign-in: a visitor picks one of the people of the story (a team
 * owner, an IT operator, a security officer, a member of another team) on
 * the sign-in page and is signed in as that catalog user, so every role of
 * the portal can be tried. Backstage's guest provider signs in one fixed
 * user; this proxy-style provider signs in the user the page asks for, but
 * only one from the allow-list in `auth.providers.demo.users`.
 *
 * It is registered only when `auth.providers.demo` is configured, which only
 * app-config.demo.yaml does: never layer that file in a deployment.
 */
import {
  coreServices,
  createBackendFeatureLoader,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { Config } from '@backstage/config';
import { InputError, NotAllowedError } from '@backstage/errors';
import {
  authProvidersExtensionPoint,
  createProxyAuthenticator,
  createProxyAuthProviderFactory,
} from '@backstage/plugin-auth-node';
import authModuleGuestProvider from '@backstage/plugin-auth-backend-module-guest-provider';

/** The request header in which the sign-in page names the chosen user. */
export const DEMO_USER_HEADER = 'x-patchbay-demo-user';

/** What the demo authenticator hands to the sign-in resolver. */
export type DemoAuthResult = { userEntityRef: string };

type DemoAuthContext = {
  allowed: ReadonlySet<string>;
  disabled: boolean;
};

/** Normalizes a user reference (`alice`, `user:alice`) to `user:default/alice`. */
function normalizeUserRef(ref: string): string {
  return stringifyEntityRef(
    parseEntityRef(ref.trim(), {
      defaultKind: 'user',
      defaultNamespace: 'default',
    }),
  ).toLocaleLowerCase('en-US');
}

/** Reads the allow-list of `auth.providers.demo.users[].entityRef`. */
export function readDemoUsers(config: Config): string[] {
  return (config.getOptionalConfigArray('users') ?? []).map(user =>
    normalizeUserRef(user.getString('entityRef')),
  );
}

/** Authenticates the user named in the request header, if it is allowed. */
export const demoAuthenticator = createProxyAuthenticator<
  DemoAuthContext,
  DemoAuthResult,
  undefined
>({
  // The catalog user's name and email, so the portal greets the person
  // chosen rather than an empty profile.
  async defaultProfileTransform(result, ctx) {
    try {
      const { entity } = await ctx.findCatalogUser({
        entityRef: result.userEntityRef,
      });
      const profile = (entity.spec?.profile ?? {}) as {
        displayName?: string;
        email?: string;
        picture?: string;
      };
      return {
        profile: {
          displayName: profile.displayName,
          email: profile.email,
          picture: profile.picture,
        },
      };
    } catch {
      // The resolver refuses a user missing from the catalog.
      return { profile: {} };
    }
  },
  initialize({ config }) {
    return {
      allowed: new Set(readDemoUsers(config)),
      // Like the guest provider: demo sign-in lets anyone be anyone, so it
      // runs outside development only when the configuration says so.
      disabled:
        process.env.NODE_ENV !== 'development' &&
        config.getOptionalBoolean('dangerouslyAllowOutsideDevelopment') !==
          true,
    };
  },
  async authenticate({ req }, ctx) {
    if (ctx.disabled) {
      throw new NotAllowedError(
        "The demo sign-in is off outside development unless 'auth.providers.demo.dangerouslyAllowOutsideDevelopment' is true",
      );
    }
    const requested = req.header(DEMO_USER_HEADER);
    if (!requested) {
      throw new InputError(`Missing the ${DEMO_USER_HEADER} header`);
    }
    let userEntityRef: string;
    try {
      userEntityRef = normalizeUserRef(requested);
    } catch {
      throw new InputError(`Not a user reference: ${requested}`);
    }
    if (!userEntityRef.startsWith('user:') || !ctx.allowed.has(userEntityRef)) {
      throw new NotAllowedError(
        `${userEntityRef} is not one of the demo's people (auth.providers.demo.users)`,
      );
    }
    return { result: { userEntityRef } };
  },
});

/**
 * The demo sign-in provider `demo`: signs in the chosen catalog user, with
 * the groups the catalog gives them. A user missing from the catalog is
 * refused (no identity is made up).
 */
export const authModuleDemoProvider = createBackendModule({
  pluginId: 'auth',
  moduleId: 'patchbay-demo-provider',
  register(reg) {
    reg.registerInit({
      deps: { providers: authProvidersExtensionPoint },
      async init({ providers }) {
        providers.registerProvider({
          providerId: 'demo',
          factory: createProxyAuthProviderFactory({
            authenticator: demoAuthenticator,
            async signInResolver({ result }, ctx) {
              return ctx.signInWithCatalogUser({
                entityRef: result.userEntityRef,
              });
            },
          }),
        });
      },
    });
  },
});

/**
 * The sign-in providers the configuration asks for: the guest and the demo
 * providers exist only when `auth.providers.guest` / `auth.providers.demo`
 * are configured (app-config.demo.yaml); the base configuration that
 * deployments layer has neither, so an anonymous caller gets no identity.
 */
export const configuredSignInProviders = createBackendFeatureLoader({
  deps: { config: coreServices.rootConfig },
  *loader({ config }) {
    if (config.has('auth.providers.guest')) {
      yield authModuleGuestProvider;
    }
    if (config.has('auth.providers.demo')) {
      yield authModuleDemoProvider;
    }
  },
});
