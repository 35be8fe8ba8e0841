// SPDX-License-Identifier: Apache-2.0
import { useState } from 'preact/hooks';
import { ApiError, request, storeToken, type WhoamiResponse } from '../api';

/**
 * Sign-in with an API token (`fleettrace token create`, or the admin token
 * `fleettrace up` wrote). It is checked with GET /api/v1/whoami and then kept
 * in this tab's sessionStorage only.
 */
export function SignIn({ onSignedIn }: { onSignedIn: (me: WhoamiResponse) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const me = await request<WhoamiResponse>('GET', '/api/v1/whoami', undefined, token.trim());
      storeToken(token.trim());
      onSignedIn(me);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="sign-in" onSubmit={submit}>
      <h1>fleettrace</h1>
      <label>
        API token
        <input
          name="token"
          type="password"
          autocomplete="off"
          placeholder="ftapi.…"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          required
        />
      </label>
      <button type="submit" disabled={busy}>
        Sign in
      </button>
      {error && <p class="error">{error}</p>}
      <p class="muted">
        The token stays in this tab only (sessionStorage) and is sent to this controller's API.
      </p>
    </form>
  );
}
