// Socket.IO peer: rooms via `socket.join`, broadcast via `io.to(room).emit`. Clients
// connect straight over WebSocket (`transport=websocket`) and name their room in the
// query, so joining costs no extra round trip. HTTP publish shares the port.
'use strict';

const http = require('http');
const { Server } = require('socket.io');
const { roomOf, portArg, announce } = require('./common');

const server = http.createServer();
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  // No heartbeat traffic inside a bench run, as for every server (see bench/README.md).
  pingInterval: 300000,
  pingTimeout: 300000,
  maxHttpBufferSize: 64 * 1024,
});

function publish(room, pub) {
  io.to(room).emit('message', { room, user: pub.user, text: pub.text, client_id: pub.client_id });
}

io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room || 'lobby');
  socket.join(room);
  socket.on('publish', (pub, ack) => {
    publish(room, pub);
    if (typeof ack === 'function') ack({ client_id: pub.client_id });
  });
});

// Socket.IO only answers its own path; every other request comes here.
server.on('request', (req, res) => {
  if (req.url.startsWith('/socket.io/')) return;
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
    publish(room, pub);
    res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ client_id: pub.client_id }));
  });
});

server.listen(portArg(), '127.0.0.1', () => announce('socketio', server.address().port));
process.on('SIGTERM', () => process.exit(0));
