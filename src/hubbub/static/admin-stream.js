// The operations page's one stream: GET /admin/stream read with fetch (not EventSource,
// which hides a refusal's status and cannot send the token in a header).

const RETRY_MS = [1000, 2000, 4000, 8000];

/** Parses Server-Sent Events from text chunks; calls onEvent(name, data) per event. */
export class EventParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
  }

  push(text) {
    this.buffer += text.replace(/\r\n?/g, "\n");
    let end;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) this.onEvent(name, data.join("\n"));
    }
  }
}

/**
 * Keeps the stream open, reconnecting with backoff, until refused (401/403: then it
 * stops, since asking again with the same token gets the same answer).
 * handlers: onHistory(data), onUpdate(data), onState(state, detail), onRefused(status, message)
 */
export function openStream(url, token, handlers) {
  let attempt = 0;
  let stopped = false;
  const controller = new AbortController();

  async function once() {
    handlers.onState(attempt ? "reconnecting" : "connecting");
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const response = await fetch(url, { headers, cache: "no-store", signal: controller.signal });
    if (response.status === 401 || response.status === 403) {
      let message = "";
      try {
        message = (await response.json()).error.message;
      } catch {
        // The status says enough.
      }
      stopped = true;
      handlers.onRefused(response.status, message);
      return;
    }
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    const parser = new EventParser((name, data) => {
      const body = JSON.parse(data);
      if (name === "history") {
        attempt = 0;
        handlers.onState("live");
        handlers.onHistory(body);
      } else if (name === "update") {
        handlers.onUpdate(body);
      }
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.push(value);
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (error) {
        if (controller.signal.aborted) return;
      }
      if (stopped) return;
      const wait = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
      attempt += 1;
      handlers.onState("reconnecting", wait);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();

  return () => {
    stopped = true;
    controller.abort();
  };
}
