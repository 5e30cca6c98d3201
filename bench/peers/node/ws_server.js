// Node `ws` broadcast server: the classic tutorial shape (a Set of sockets per room,
// `send` to each), plus an HTTP publish route on the same port.
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');
const { roomOf, messageFrame, ackFrame, portArg, announce } = require('./common');

const rooms = new Map(); // room -> Set<WebSocket>

function broadcast(room, frame) {
  const subs = rooms.get(room);
  if (!subs) return;
  for (const ws of subs) ws.send(frame);
}

const server = http.createServer((req, res) => {
  const room = roomOf(req.url);
  if (req.method !== 'POST' || room === null) {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let pub;
    try {
      pub = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    broadcast(room, messageFrame(room, pub));
    res.writeHead(201, { 'Content-Type': 'application/json' }).end(ackFrame(pub));
  });
});

// perMessageDeflate off: no bench client negotiates it, and it is off in every peer.
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const room = roomOf(req.url);
  if (room === null) {
    ws.close(1008);
    return;
  }
  let subs = rooms.get(room);
  if (!subs) rooms.set(room, (subs = new Set()));
  subs.add(ws);
  ws.on('message', (data) => {
    let pub;
    try {
      pub = JSON.parse(data.toString('utf8'));
    } catch {
      return;
    }
    broadcast(room, messageFrame(room, pub));
    ws.send(ackFrame(pub));
  });
  ws.on('close', () => {
    subs.delete(ws);
    if (subs.size === 0) rooms.delete(room);
  });
  ws.on('error', () => {});
});

server.listen(portArg(), '127.0.0.1', () => announce('node-ws', server.address().port));
process.on('SIGTERM', () => process.exit(0));
