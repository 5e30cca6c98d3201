// The tutorial's messaging API module, unchanged but for the address: the
// tutorial hard-codes localhost:3001, the tests pass the server they started.
const axios = require('axios');
const WebSocket = require('ws');

const BASE = process.env.HUBBUB_URL || 'http://localhost:3001';

function createMessagingSocket() {
  return new WebSocket(`${BASE.replace(/^http/, 'ws')}/messages`);
}

function getMessages() {
  return axios.get(`${BASE}/messages`).then(res => res.data);
}

function sendMessage(message) {
  return axios.post(`${BASE}/messages`, message);
}

module.exports.createMessagingSocket = createMessagingSocket;
module.exports.getMessages = getMessages;
module.exports.sendMessage = sendMessage;
