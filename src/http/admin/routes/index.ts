// Every admin API route, one file per resource. The router serves this list and the OpenAPI document is
// generated from it.
import type { AdminRoute } from '../route.ts';
import { clientRoutes } from './clients.ts';
import { userRoutes } from './users.ts';
import { resourceServerRoutes } from './resource-servers.ts';
import { grantRoutes } from './grants.ts';
import { sessionRoutes } from './sessions.ts';
import { initialAccessTokenRoutes } from './initial-access-tokens.ts';
import { auditEventRoutes } from './audit-events.ts';
import { keyRoutes } from './keys.ts';
import { upstreamRoutes } from './upstreams.ts';
import { userFactorRoutes } from './user-factors.ts';

export const adminRoutes: readonly AdminRoute[] = [
  ...clientRoutes,
  ...userRoutes,
  ...resourceServerRoutes,
  ...grantRoutes,
  ...sessionRoutes,
  ...keyRoutes,
  ...initialAccessTokenRoutes,
  ...auditEventRoutes,
  ...upstreamRoutes,
  ...userFactorRoutes,
];
