// What the API answers when a request never reaches Fastify's routing: bytes that are not HTTP/1.1 (an unknown
// method, both Content-Length and Transfer-Encoding), headers over the size limit, a request that did not arrive
// in time, or a socket that went idle mid-request. Each answer is an RFC 9457 problem like every other error,
// and the connection is closed afterwards (the parser cannot tell where a next request would start).
import { randomUUID } from "node:crypto";
import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { PROBLEM_CONTENT_TYPE } from "./problem.js";

const DETAILS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, "the request did not arrive in time; send it again"],
  HPE_HEADER_OVERFLOW: [431, "the request headers are too large"],
  HPE_INVALID_METHOD: [400, "the request line has an unknown method"],
  HPE_UNEXPECTED_CONTENT_LENGTH: [400, "a request must not carry both Content-Length and Transfer-Encoding"],
  HPE_INVALID_TRANSFER_ENCODING: [400, "the Transfer-Encoding header is not valid"],
  HPE_INVALID_CONTENT_LENGTH: [400, "the Content-Length header is not valid"],
};

/** the response in progress on this socket, if any (node keeps it there) */
const responseOf = (socket: Socket) => (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;

/** Writes a problem+json answer straight to the socket (when nothing was sent on it yet) and closes it. */
export function answerOnSocket(socket: Socket, status: number, detail: string): void {
  if (socket.destroyed) return;
  const res = responseOf(socket);
  if (socket.writable && !res?.headersSent) {
    const body = JSON.stringify({ type: "about:blank", title: STATUS_CODES[status], status, detail, request_id: randomUUID() });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  // ended: whatever a route still writes on it goes nowhere
  socket.end();
  // a client that never reads must not keep the socket
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Fastify's clientErrorHandler: every error before routing leaves as problem+json. */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, detail] = DETAILS[err.code ?? ""] ?? [400, `the request is not valid HTTP/1.1 (${err.code ?? "parse error"})`];
  answerOnSocket(socket, status, detail);
}

/** The server's idle-socket handler: a request stalled mid-way gets a 408; an idle keep-alive socket is just closed. */
export function onIdleSocket(socket: Socket): void {
  const res = responseOf(socket);
  if (res && !res.headersSent) answerOnSocket(socket, 408, "no bytes of the request arrived for too long; send it again");
  else socket.destroy();
}
