// The peer of bench/oidc_bench.py: node oidc-provider, in memory, on one port.
//
//   node server.mjs --port 5101 --clients clients.json
//
// clients.json holds {"cc": {...}, "rp": {...}}: the client-credentials client and the
// code-flow client, with ids, secrets and the redirect URI the benchmark chose.
// Client credentials get RS256 JWT access tokens through resource indicators (the
// benchmark asks for resource urn:idp-bench:api); refresh tokens rotate on every use;
// sign-in goes through the development interactions (any login name, then consent).
// Prints "ready <issuer>" on stdout once it listens.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '5101' },
    host: { type: 'string', default: '127.0.0.1' },
    clients: { type: 'string' },
  },
});

const RESOURCE = 'urn:idp-bench:api';
const clients = JSON.parse(readFileSync(args.clients, 'utf8'));
const issuer = `http://${args.host}:${args.port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'bench-rs256' };

const configuration = {
  clients: [
    {
      client_id: clients.cc.client_id,
      client_secret: clients.cc.client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: clients.cc.scope,
    },
    {
      client_id: clients.rp.client_id,
      client_secret: clients.rp.client_secret,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [clients.rp.redirect_uri],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signing] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'profile', 'email', 'offline_access', clients.cc.scope],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id, preferred_username: id, name: id, email: `${id}@example.org`, email_verified: true,
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: clients.cc.scope,
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  pkce: { required: () => true },
  // A refresh token for every code-flow grant of a client allowed the grant (the product
  // does the same when offline_access is asked for), rotated on every use.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    ClientCredentials: 3600,
    IdToken: 3600,
    Interaction: 600,
    Grant: 86400,
    RefreshToken: 86400,
    Session: 43200,
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, error) => {
  console.error('server_error', error);
});

const server = provider.listen(Number(args.port), args.host, () => {
  console.log(`ready ${issuer}`);
});
// As gunicorn's [server] keepalive_seconds (5) in the product: idle keep-alive
// connections stay open between a row's requests.
server.keepAliveTimeout = 5000;

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
