// As in the tutorial: the client picks a random number as each message's id.
function getRandomInt(max) {
  return Math.floor(Math.random() * Math.floor(max));
}

module.exports.getRandomInt = getRandomInt;
