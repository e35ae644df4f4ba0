import { createContext, useContext } from 'react';
import type { User } from '../api/types';

export interface Auth {
  user: User | null;
  login: (email: string, password: string) => Promise<void>;
  logout: () => void;
  /** After a password change the API issues a new token (older ones stop working). */
  acceptNewToken: (token: string) => Promise<void>;
}

export const AuthContext = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside AuthContext');
  return auth;
}

/** Who may administer users and MQTT credentials (src/store/users.rs `is_admin`). */
export function isAdmin(user: User | null): boolean {
  return !!user && (user.is_superuser || user.role === 'ADMIN' || user.role === 'SUPERADMIN');
}
