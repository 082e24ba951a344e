// Every test file's HTTP client (global fetch, and openid-client through it) closes a connection as soon as
// it is idle. A server's graceful close (server.ts) gives kept-alive connections a second to go quiet
// before it closes them, so a client that keeps idle connections open would add a second to every test
// server's stop. Tests of that drain make their own connections (operations/graceful-shutdown.test.ts).
import { Agent, setGlobalDispatcher } from 'undici';

setGlobalDispatcher(new Agent({ keepAliveTimeout: 10, keepAliveMaxTimeout: 10 }));
