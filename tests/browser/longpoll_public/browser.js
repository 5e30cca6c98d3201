// The long-polling tutorial's browser code: subscribe in a loop, publish with a POST.

function PublishForm(form, url) {
  function sendMessage(message) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", url, true);
    // A string body: sent as text/plain;charset=UTF-8.
    xhr.send(JSON.stringify({ message: message }));
  }

  form.onsubmit = function () {
    var message = form.message.value;
    if (message) {
      form.message.value = "";
      sendMessage(message);
    }
    return false;
  };
}

function SubscribePane(elem, url) {
  function showMessage(message) {
    var messageElem = document.createElement("div");
    messageElem.className = "message";
    messageElem.appendChild(document.createTextNode(message));
    elem.appendChild(messageElem);
  }

  function subscribe() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url, true);
    xhr.onload = function () {
      if (this.status == 200) {
        showMessage(this.responseText);
        subscribe();
      } else {
        setTimeout(subscribe, 500);
      }
    };
    xhr.onerror = xhr.onabort = function () {
      setTimeout(subscribe, 500);
    };
    xhr.send("");
  }

  subscribe();
}
