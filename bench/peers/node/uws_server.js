// uWebSockets.js peer: built-in topic pub/sub (`app.publish`), which corks and writes
// each subscriber once per loop; the same routes as every other peer.
'use strict';

const uWS = require('@trufflesuite/uws-js-unofficial');
const { messageFrame, ackFrame, portArg, announce } = require('./common');

const decoder = new TextDecoder();
// 1 MiB per subscriber, like hubbub's outbox limit: uWS's default (64 KiB) silently
// skips messages for a subscriber past it, which the stream checker would count as lost.
const MAX_BACKPRESSURE = 1024 * 1024;

const app = uWS.App();

app.ws('/rooms/:room/messages', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  maxBackpressure: MAX_BACKPRESSURE,
  idleTimeout: 0,
  upgrade: (res, req, context) => {
    res.upgrade(
      { room: req.getParameter(0) },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    ws.subscribe(ws.getUserData().room);
  },
  message: (ws, message) => {
    let pub;
    try {
      pub = JSON.parse(decoder.decode(message));
    } catch {
      return;
    }
    const room = ws.getUserData().room;
    app.publish(room, messageFrame(room, pub));
    ws.send(ackFrame(pub));
  },
});

app.post('/rooms/:room/messages', (res, req) => {
  const room = req.getParameter(0);
  const chunks = [];
  res.onAborted(() => {
    res.aborted = true;
  });
  res.onData((chunk, isLast) => {
    // The chunk's memory is reused after this callback returns: copy it.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast) return;
    let pub;
    try {
      pub = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      if (!res.aborted) res.writeStatus('400 Bad Request').end();
      return;
    }
    app.publish(room, messageFrame(room, pub));
    if (!res.aborted) {
      res.cork(() => {
        res.writeStatus('201 Created').writeHeader('Content-Type', 'application/json').end(ackFrame(pub));
      });
    }
  });
});

app.listen('127.0.0.1', portArg(), (token) => {
  if (!token) {
    process.stderr.write('uws: listen failed\n');
    process.exit(1);
  }
  announce('uws', uWS.us_socket_local_port(token));
});
process.on('SIGTERM', () => process.exit(0));
