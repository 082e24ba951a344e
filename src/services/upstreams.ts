// Upstream identity providers, for the CLI (`tessera upstream …`) and the admin API (/admin/v1/upstreams).
// Part of the one operations table (operations.ts). The client secret goes in and never comes back out.
import type { ServiceContext } from './context.ts';
import { changeUpstream, createUpstream, listUpstreams, publicUpstream, removeUpstream, requireUpstream, type UpstreamInput } from '../domain/upstreams.ts';

const rules = (ctx: ServiceContext) => ({ allowHttpIssuer: ctx.config.upstreamAllowHttp });

export const upstreamOperations = {
  async 'upstream.create'(ctx: ServiceContext, input: UpstreamInput) {
    const upstream = publicUpstream(await createUpstream(ctx.runtime.db, ctx.runtime.box, rules(ctx), input));
    return { ...upstream, redirect_uri: `${ctx.config.issuer}/upstream/${upstream.id}/callback` };
  },
  async 'upstream.list'({ runtime }: ServiceContext) {
    return { upstreams: (await listUpstreams(runtime.db)).map(publicUpstream) };
  },
  async 'upstream.get'({ runtime }: ServiceContext, input: { id: string }) {
    return publicUpstream(await requireUpstream(runtime.db, input.id));
  },
  async 'upstream.update'(ctx: ServiceContext, input: UpstreamInput) {
    return publicUpstream(await changeUpstream(ctx.runtime.db, ctx.runtime.box, rules(ctx), input));
  },
  async 'upstream.delete'({ runtime }: ServiceContext, input: { id: string }) {
    await removeUpstream(runtime.db, input.id);
    return { id: input.id, deleted: true };
  },
} as const;
