/*
 * The sign-in page. Without demo people configured it is Backstage's default
 * (the guest provider's "Enter"). With `auth.providers.demo.users`
 * (app-config.demo.yaml only) it lists the people of the demo story beside
 * the guest, so a visitor can sign in as a team owner, an IT operator, a
 * security officer or a member of another team and see what each may do.
 */
import { useState } from 'react';
import {
  Content,
  ErrorPanel,
  Header,
  InfoCard,
  Page,
  ProxiedSignInPage,
  SignInPage,
} from '@backstage/core-components';
import {
  configApiRef,
  IdentityApi,
  useApi,
} from '@backstage/frontend-plugin-api';
import type { SignInPageProps } from '@backstage/plugin-app-react';
import Button from '@material-ui/core/Button';
import Grid from '@material-ui/core/Grid';
import Typography from '@material-ui/core/Typography';

/** The request header that names the chosen user (the backend's DEMO_USER_HEADER). */
export const DEMO_USER_HEADER = 'x-patchbay-demo-user';

/** Where the choice is kept, so that a reload signs the same person in again. */
export const DEMO_CHOICE_STORAGE_KEY = '@patchbay/demo-sign-in';

/** One person of the demo, from `auth.providers.demo.users`. */
export type DemoPerson = {
  entityRef: string;
  title: string;
  description?: string;
};

/** A sign-in choice: the guest provider, or the demo provider with a user. */
type Choice = { provider: 'guest' } | { provider: 'demo'; entityRef: string };

function readChoice(): Choice | undefined {
  try {
    const raw = window.localStorage.getItem(DEMO_CHOICE_STORAGE_KEY);
    const parsed = raw ? JSON.parse(raw) : undefined;
    if (parsed?.provider === 'guest') return { provider: 'guest' };
    if (parsed?.provider === 'demo' && typeof parsed.entityRef === 'string') {
      return { provider: 'demo', entityRef: parsed.entityRef };
    }
  } catch {
    // An unreadable choice is no choice: the page asks again.
  }
  return undefined;
}

function forgetChoice() {
  window.localStorage.removeItem(DEMO_CHOICE_STORAGE_KEY);
}

/** Forgets the choice on sign-out, so that the sign-in page asks again. */
class ForgetChoiceOnSignOut implements IdentityApi {
  constructor(private readonly inner: IdentityApi) {}
  getProfileInfo() {
    return this.inner.getProfileInfo();
  }
  getBackstageIdentity() {
    return this.inner.getBackstageIdentity();
  }
  getCredentials() {
    return this.inner.getCredentials();
  }
  async signOut() {
    forgetChoice();
    await this.inner.signOut();
  }
}

/** The sign-in page of the app: the demo's people when configured, else the guest. */
export function DemoSignInPage(props: SignInPageProps) {
  const config = useApi(configApiRef);
  const people: DemoPerson[] = (
    config.getOptionalConfigArray('auth.providers.demo.users') ?? []
  ).map(c => ({
    entityRef: c.getString('entityRef'),
    title: c.getString('title'),
    description: c.getOptionalString('description'),
  }));
  const [choice, setChoice] = useState<Choice | undefined>(() => {
    if (people.length === 0) return undefined;
    // The app has no sign-out menu of its own: `/?signin` asks again, so a
    // visitor can switch from one person to another.
    if (new URLSearchParams(window.location.search).has('signin')) {
      forgetChoice();
      return undefined;
    }
    return readChoice();
  });

  if (people.length === 0) {
    return <SignInPage {...props} providers={['guest']} />;
  }

  if (choice) {
    const headers =
      choice.provider === 'demo'
        ? { [DEMO_USER_HEADER]: choice.entityRef }
        : undefined;
    return (
      <ProxiedSignInPage
        {...props}
        provider={choice.provider}
        headers={headers}
        onSignInSuccess={identity =>
          props.onSignInSuccess(new ForgetChoiceOnSignOut(identity))
        }
        ErrorComponent={({ error }) => (
          <Page themeId="home">
            <Content>
              <ErrorPanel title="Sign-in failed" error={error ?? new Error()} />
              <Button
                variant="outlined"
                onClick={() => {
                  forgetChoice();
                  setChoice(undefined);
                }}
              >
                Back to sign-in
              </Button>
            </Content>
          </Page>
        )}
      />
    );
  }

  const choose = (next: Choice) => {
    window.localStorage.setItem(DEMO_CHOICE_STORAGE_KEY, JSON.stringify(next));
    setChoice(next);
  };

  return (
    <Page themeId="home">
      <Header
        title={config.getOptionalString('app.title') ?? 'Backstage'}
        subtitle="Sign in as one of the demo's people to see what each role may do"
      />
      <Content>
        <Grid
          container
          spacing={2}
          component="ul"
          // A list of people, without the list's bullets.
          style={{ listStyle: 'none', padding: 0 }}
        >
          <Grid item xs={12} sm={6} md={4} component="li">
            <InfoCard
              variant="fullHeight"
              title="Guest"
              actions={
                <Button
                  color="primary"
                  variant="outlined"
                  onClick={() => choose({ provider: 'guest' })}
                >
                  Enter
                </Button>
              }
            >
              <Typography variant="body1">
                Sign in as the guest (Payments and IT Operations).
              </Typography>
            </InfoCard>
          </Grid>
          {people.map(person => (
            <Grid
              item
              xs={12}
              sm={6}
              md={4}
              component="li"
              key={person.entityRef}
            >
              <InfoCard
                variant="fullHeight"
                title={person.title}
                subheader={person.entityRef}
                actions={
                  <Button
                    color="primary"
                    variant="outlined"
                    onClick={() =>
                      choose({ provider: 'demo', entityRef: person.entityRef })
                    }
                  >
                    Sign in as {person.title}
                  </Button>
                }
              >
                {person.description && (
                  <Typography variant="body1">{person.description}</Typography>
                )}
              </InfoCard>
            </Grid>
          ))}
        </Grid>
      </Content>
    </Page>
  );
}
