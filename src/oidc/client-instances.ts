// The engine's Client.find (oidc-provider lib/models/client.js) turns a client's stored metadata into its
// built instance by hashing the whole metadata (JSON, then SHA-256) on every call — every token request,
// every introspection. The adapter hands out one metadata object per client while it is cached
// (adapter.ts, short-lived-cache.ts), so the instance is remembered per metadata object: a changed client
// is a new object, hence a new instance, exactly when the engine would build one.
import type Provider from 'oidc-provider';

type ClientClass = Provider['Client'] & {
  find(id: string): Promise<InstanceType<Provider['Client']> | undefined>;
  readonly adapter: { find(id: string): Promise<object | undefined> };
};

export function rememberClientInstances(provider: Provider): void {
  const Client = provider.Client as ClientClass;
  const engineFind = Client.find.bind(Client);
  const instances = new WeakMap<object, InstanceType<Provider['Client']>>();
  Client.find = async (id: string) => {
    if (typeof id !== 'string' || !id) return engineFind(id);
    const metadata = await Client.adapter.find(id);
    const known = metadata && instances.get(metadata);
    if (known) return known;
    const client = await engineFind(id);
    if (metadata && client) instances.set(metadata, client);
    return client;
  };
}
