// Shared by the Node peers: the routes and frames every bench peer speaks, so the
// load generator drives them exactly like hubbub (see bench/README.md, "Peers").
'use strict';

const ROOM_PATH = /^\/rooms\/([A-Za-z0-9_.-]{1,64})\/messages(?:\?.*)?$/;

/** Room name from a request URL, or null when the URL is not a room's. */
function roomOf(url) {
  const m = ROOM_PATH.exec(url || '');
  return m ? m[1] : null;
}

/** The broadcast frame for a published body: encoded once, sent to every subscriber. */
function messageFrame(room, pub) {
  return JSON.stringify({
    type: 'message',
    message: { room, user: pub.user, text: pub.text, client_id: pub.client_id },
  });
}

function ackFrame(pub) {
  return JSON.stringify({ type: 'ack', client_id: pub.client_id });
}

/** Port from argv (`--port N`), 0 meaning "pick a free one". */
function portArg() {
  const i = process.argv.indexOf('--port');
  return i >= 0 ? Number(process.argv[i + 1]) : 0;
}

/** The readiness line the bench waits for, same shape as hubbub's. */
function announce(name, port) {
  process.stderr.write(`${name} listening on http://127.0.0.1:${port}\n`);
}

module.exports = { roomOf, messageFrame, ackFrame, portArg, announce };
