// SPDX-License-Identifier: Apache-2.0
/**
 * The shell: sign-in, then the pages by the URL's fragment (#/fleet), so
 * the controller serves one index.html and reloading a page keeps it.
 */
import { useEffect, useState } from 'preact/hooks';
import { request, storedToken, storeToken, whenUnauthorized, type WhoamiResponse } from './api';
import { SignIn } from './pages/sign-in';
import { FleetPage } from './pages/fleet';
import { JobsPage } from './pages/jobs';
import { CrashesPage } from './pages/crashes';
import { SqlPage } from './pages/sql';
import { ProfilesPage } from './pages/profiles';

const PAGES = [
  { path: 'fleet', title: 'Fleet' },
  { path: 'jobs', title: 'Jobs' },
  { path: 'crashes', title: 'Crashes' },
  { path: 'sql', title: 'SQL' },
  { path: 'profiles', title: 'Profiles' },
] as const;
type PagePath = (typeof PAGES)[number]['path'];

function currentPage(): PagePath {
  const path = location.hash.replace(/^#\/?/, '').split('?')[0];
  return PAGES.find((p) => p.path === path)?.path ?? 'fleet';
}

export function App() {
  const [me, setMe] = useState<WhoamiResponse | null>(null);
  const [checking, setChecking] = useState(storedToken() !== null);
  const [page, setPage] = useState<PagePath>(currentPage());

  const signOut = () => {
    storeToken(null);
    setMe(null);
  };
  useEffect(() => {
    whenUnauthorized(signOut);
    const onHash = () => setPage(currentPage());
    addEventListener('hashchange', onHash);
    // A token kept from earlier in this tab: ask who it is.
    if (storedToken())
      request<WhoamiResponse>('GET', '/api/v1/whoami')
        .then(setMe)
        .catch(() => storeToken(null))
        .finally(() => setChecking(false));
    return () => removeEventListener('hashchange', onHash);
  }, []);

  if (checking) return <p class="muted pad">Checking the token…</p>;
  if (!me) return <SignIn onSignedIn={setMe} />;
  return (
    <div class="shell">
      <header>
        <strong class="brand">fleettrace</strong>
        <nav>
          {PAGES.map((p) => (
            <a key={p.path} href={`#/${p.path}`} class={p.path === page ? 'active' : ''}>
              {p.title}
            </a>
          ))}
        </nav>
        <span class="who" title={`token ${me.id}`}>
          {me.name} <span class="badge">{me.role}</span>
        </span>
        <button type="button" class="link" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        {page === 'fleet' && <FleetPage />}
        {page === 'jobs' && <JobsPage me={me} />}
        {page === 'crashes' && <CrashesPage />}
        {page === 'sql' && <SqlPage />}
        {page === 'profiles' && <ProfilesPage />}
      </main>
    </div>
  );
}
