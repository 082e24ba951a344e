// The one factory of ServiceContext (services/context.ts), used by server.ts for the serving process and by
// the CLI for a command run on a connection of its own. What differs between them is only where the engine
// comes from (the serving one, or one built on demand that never listens) and what a serving process can
// also do (reload keys, drop cached clients); back-channel logout is the same everywhere.
import type Provider from 'oidc-provider';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Runtime } from './runtime.ts';
import type { EndedSession, ServiceContext } from './services/context.ts';
import { sendBackchannelLogouts } from './oidc/backchannel.ts';
import { createMailer } from './services/mailer.ts';

export interface EngineAccess {
  /** The engine to sign and issue with; called only when a service needs it. */
  provider(): Promise<Provider>;
  keysChanged?: ServiceContext['keysChanged'];
  changed?: ServiceContext['changed'];
}

export function createServiceContext(runtime: Runtime, config: Config, logger: Logger, engine: EngineAccess): ServiceContext {
  return {
    runtime,
    config,
    provider: engine.provider,
    // Only sessions some app took part in need the engine (which a CLI run would otherwise build for nothing).
    notifyLogout: async (ended: EndedSession[]) => {
      if (!ended.some((s) => Object.keys(s.sids).length > 0)) return 0;
      return sendBackchannelLogouts(await engine.provider(), logger, ended);
    },
    ...(engine.keysChanged ? { keysChanged: engine.keysChanged } : {}),
    ...(engine.changed ? { changed: engine.changed } : {}),
    mailer: createMailer(config, logger),
  };
}
