import { api, listPath } from '../api/client';
import type { SupportGroup, User } from '../api/types';
import { useLoad } from '../components/useLoad';

export interface Assignables {
  users: User[];
  groups: SupportGroup[];
}

/**
 * Who incidents can be assigned to: users and support groups. Both lists are for
 * administrators; an operator gets none (and the assignment fields stay empty).
 */
export function useAssignables(): Assignables {
  const users = useLoad(() => api.get<User[]>(listPath('/users')).catch((): User[] => []));
  const groups = useLoad(() => api.get<SupportGroup[]>('/support-groups').catch((): SupportGroup[] => []));
  return { users: (users.data ?? []).filter((u) => u.is_active), groups: (groups.data ?? []).filter((g) => g.is_active) };
}
