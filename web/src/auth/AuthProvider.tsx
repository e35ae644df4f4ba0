import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, setUnauthorizedListener, tokenStore } from '../api/client';
import type { TokenResponse, User } from '../api/types';
import { AuthContext } from './auth';

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  // While a stored token is being checked, render nothing rather than flash the login page.
  const [checking, setChecking] = useState(() => tokenStore.get() !== null);

  const loadMe = useCallback(async () => setUser(await api.get<User>('/auth/me')), []);

  useEffect(() => {
    setUnauthorizedListener(() => setUser(null));
    if (tokenStore.get()) {
      loadMe()
        .catch(() => tokenStore.clear())
        .finally(() => setChecking(false));
    }
  }, [loadMe]);

  const value = useMemo(
    () => ({
      user,
      login: async (email: string, password: string) => {
        const token = await api.post<TokenResponse>('/auth/login', { email, password });
        tokenStore.set(token.access_token);
        await loadMe();
      },
      logout: () => {
        tokenStore.clear();
        setUser(null);
      },
      acceptNewToken: async (token: string) => {
        tokenStore.set(token);
        await loadMe();
      },
    }),
    [user, loadMe],
  );

  if (checking) return null;
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
