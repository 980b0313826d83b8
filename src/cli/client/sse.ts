// A parser for text/event-stream (the WHATWG "server-sent events" format): fields id, event, data (joined
// by newlines over several lines), retry; comments (":" lines, used as keep-alives) are skipped. Works on
// any chunking of the bytes, including a CRLF split across chunks.

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

export async function* parseSse(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseMessage & { retry?: number }> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  let event = "";
  let id: string | undefined;
  let retry: number | undefined;
  const flushLine = function* (line: string): Generator<SseMessage & { retry?: number }> {
    if (line === "") {
      if (data.length > 0) yield { id, event: event || "message", data: data.join("\n"), ...(retry !== undefined ? { retry } : {}) };
      data = [];
      event = "";
      retry = undefined;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
    else if (field === "id" && !value.includes("\0")) id = value;
    else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
  };
  for await (const chunk of chunks) {
    buffer += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer[i];
      if (c !== "\n" && c !== "\r") continue;
      // a CR at the very end may be the first half of CRLF: wait for the next chunk
      if (c === "\r" && i === buffer.length - 1) break;
      yield* flushLine(buffer.slice(start, i));
      if (c === "\r" && buffer[i + 1] === "\n") i++;
      start = i + 1;
    }
    buffer = buffer.slice(start);
  }
  buffer += decoder.decode();
  if (buffer.length > 0) yield* flushLine(buffer.replace(/\r$/, ""));
  // a stream that ends without a blank line drops its last, unfinished event (as browsers do)
}
