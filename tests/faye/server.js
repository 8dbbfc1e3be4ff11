// A Bayeux server that is not gwsim's: Faye (npm `faye`) on a loopback port, both transports
// (long-polling and websocket) at /api/v2/notifications, where gwsim's CometD client looks.
// Driven by tests/integration/faye.rs through a small control API on the same port:
//   POST /control/publish {"channel": "...", "data": {...}}  publish as a server-side client
//   GET  /control/subscribers                                 subscriptions made so far
//   POST /control/forget                                      destroy every client session, so
//                                                             the next connect is "401::Unknown client"
// Usage: node server.js [PORT]   (0 or absent: a free port). Prints "listening PORT" once bound.
'use strict';

const http = require('http');
const faye = require('faye');

const port = Number(process.argv[2] || 0);
// A short long-poll hold keeps the test quick; interval 0 as CometD servers advise.
const bayeux = new faye.NodeAdapter({ mount: '/api/v2/notifications', timeout: 5 });

const clients = new Set();
let subscriptions = 0;
bayeux.on('handshake', (id) => clients.add(id));
bayeux.on('disconnect', (id) => clients.delete(id));
bayeux.on('subscribe', () => { subscriptions += 1; });

function body(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      // The test sends small bodies; anything larger is a mistake.
      if (size > 65536) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/control/publish') {
      const { channel, data } = JSON.parse(await body(req));
      await bayeux.getClient().publish(channel, data);
      return reply(res, 200, { ok: true });
    }
    if (req.method === 'GET' && req.url === '/control/subscribers') {
      return reply(res, 200, { subscriptions, clients: clients.size });
    }
    if (req.method === 'POST' && req.url === '/control/forget') {
      // Faye has no public call for this; its engine's destroyClient is what session expiry uses.
      const engine = bayeux._server._engine;
      const ids = [...clients];
      for (const id of ids) engine.destroyClient(id);
      clients.clear();
      return reply(res, 200, { forgotten: ids.length });
    }
    reply(res, 404, { error: 'not found' });
  } catch (e) {
    reply(res, 500, { error: String(e) });
  }
});

bayeux.attach(server);
server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}
