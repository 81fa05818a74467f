// Run with `node --allow-natives-syntax`: serves an Express app (with expressServerOptions when
// STABLE=1, else as app.listen does), holds two requests until both are in the handler, and prints
// whether their req and their res share V8's hidden class there, after Express, body-parser, a
// middleware that adds req.apiKey and the handler itself have added their properties, and whether
// they keep fast properties there (not turned into dictionaries, where every property is found by
// a hash lookup).
'use strict';

const http = require('node:http');
const express = require('express');
const { expressServerOptions } = require('@keyward/guard');

const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)');
const fast = new Function('o', 'return %HasFastProperties(o)');

const app = express();
app.use(express.json());
app.use((req, _res, next) => {
  req.apiKey = { id: 'key' };
  next();
});
let waiting = null;
const results = [];
app.post('/held', (req, res) => {
  res.locals.seen = true;
  if (!waiting) {
    waiting = { req, res };
    return;
  }
  const first = waiting;
  waiting = null;
  results.push({
    req: sameMap(req, first.req),
    res: sameMap(res, first.res),
    fast: [req, res, first.req, first.res].every((o) => fast(o)),
  });
  first.res.json({ ok: true });
  res.json({ ok: true });
});

const server = process.env.STABLE === '1' ? http.createServer(expressServerOptions(app), app) : http.createServer(app);
server.listen(0, '127.0.0.1', async () => {
  const url = `http://127.0.0.1:${server.address().port}/held`;
  const one = () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m"}' }).then((r) => r.json());
  // Pairs after the first ones (V8's classes settle while the first requests run).
  for (let i = 0; i < 20; i++) await Promise.all([one(), one()]);
  const last = results.slice(-10);
  process.stdout.write(`${JSON.stringify({ req: last.every((r) => r.req), res: last.every((r) => r.res), fast: last.every((r) => r.fast) })}\n`);
  server.close();
});
