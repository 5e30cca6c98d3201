// The tutorial's terminal chat client, unchanged but for POLL_MS (the tutorial
// polls every 3 seconds; the tests poll faster so that they stay quick).
//
//   MODE=poll NAME=alice node client.js     GET /messages every few seconds
//   MODE=stream NAME=alice node client.js   a WebSocket on /messages
//
// Each line typed is POSTed to /messages as {id, text, username}; a message is
// shown as "> username: text" unless its id was seen (or sent) before.
const helpers = require('./helpers');
const messagingApi = require('./messaging_api');
const readline = require('readline');

const POLL_MS = Number(process.env.POLL_MS || 3000);

const displayedMessages = {};

const terminal = readline.createInterface({
  input: process.stdin,
});

terminal.on('line', text => {
  const username = process.env.NAME;
  const id = helpers.getRandomInt(100000);
  displayedMessages[id] = true;

  const message = {id, text, username};
  messagingApi.sendMessage(message);
});

function displayMessage(message) {
  console.log(`> ${message.username}: ${message.text}`);
  displayedMessages[message.id] = true;
}

async function getAndDisplayMessages() {
  const messages = await messagingApi.getMessages();
  for (const message of messages) {
    const messageAlreadyDisplayed = message.id in displayedMessages;
    if (!messageAlreadyDisplayed) displayMessage(message);
  }
}

function pollMessages() {
  setInterval(getAndDisplayMessages, POLL_MS);
}

function streamMessages() {
  const messagingSocket = messagingApi.createMessagingSocket();

  messagingSocket.on('message', data => {
    const message = JSON.parse(data);
    const messageAlreadyDisplayed = message.id in displayedMessages;
    if (!messageAlreadyDisplayed) displayMessage(message);
  });
}

if (process.env.MODE === 'poll') {
  getAndDisplayMessages();
  pollMessages();
} else if (process.env.MODE === 'stream') {
  streamMessages();
}
