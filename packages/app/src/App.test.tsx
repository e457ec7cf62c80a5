import { render, waitFor } from '@testing-library/react';
import App from './App';

describe('App', () => {
  it('renders the host app', async () => {
    process.env = {
      NODE_ENV: 'test',
      APP_CONFIG: [
        {
          data: {
            app: { title: 'Test' },
            backend: { baseUrl: 'http://localhost:7007' },
          },
          context: 'test',
        },
      ] as any,
    };

    const rendered = render(App.createRoot());
    await waitFor(() => {
      expect(rendered.baseElement).toBeInTheDocument();
    });
  });
});
