/**
 * Entry point: theme first (no flash), then the socket client and the app
 * shell. The client reconnects by itself; coming back online or to the tab
 * skips the remaining wait.
 */
import './ui/tokens.css';
import { ApiClient, socketUrlFor } from './api/client.js';
import './components/app-shell.js';
import { ThemeManager } from './ui/theme.js';

const theme = new ThemeManager();
const client = new ApiClient({ url: socketUrlFor(window.location) });

const app = document.createElement('db-app');
app.client = client;
app.theme = theme;
document.body.append(app);
client.start();

window.addEventListener('online', () => client.retryNow());
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') client.retryNow();
});
