// One HTTP/1.1 connection's request side, without the socket: bytes in,
// response bytes out. Parsing is Node's http_parser; this file adds the
// size limits, the one-request-at-a-time dispatch to a handler, and
// response framing (Content-Length, application/json). HttpServer runs one
// per accepted connection; tests and the fuzzer drive it directly.
//
//   HttpHandler handler = [](const HttpRequest& r) {
//     return HttpResponse{200, "{}"};
//   };
//   HttpConnection conn(&handler, HttpLimits{});
//   std::string out;
//   bool open = conn.Feed("GET / HTTP/1.1\r\n\r\n", &out);  // out: response
#ifndef SKIFF_API_HTTP_CONNECTION_H_
#define SKIFF_API_HTTP_CONNECTION_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace skiff::api {

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // the URL path, query string removed
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string body;  // JSON text, or empty (always empty for 204)
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpLimits {
  // Request line plus headers. Beyond it: 413 and the connection closes.
  size_t max_header_bytes = 8 * 1024;
  // Request body (Content-Length or the sum of chunks): 413 and close.
  size_t max_body_bytes = 64 * 1024;
  // Connections beyond this are accepted and closed at once.
  size_t max_connections = 16;
};

// "HTTP/1.1 <code> <reason>" reason phrases for the statuses the API uses.
const char* HttpReason(int status);

// The response bytes for `response`; `close` adds "Connection: close".
std::string FormatHttpResponse(const HttpResponse& response, bool close);

// One connection's request parser. Feed() takes bytes as they arrive and
// appends complete responses to `out`; requests are handled one at a time,
// in order (pipelining works). Not thread-safe: one connection, one thread.
class HttpConnection {
 public:
  // `handler` must outlive the connection; it runs on the thread that calls
  // Feed().
  HttpConnection(const HttpHandler* handler, HttpLimits limits);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Returns false once the connection must close after `out` is sent
  // (malformed request, a limit hit, "Connection: close", HTTP/1.0). Bytes
  // fed after that are ignored.
  bool Feed(absl::string_view data, std::string* out);
  bool closing() const { return closing_; }

 private:
  struct Parser;
  friend struct Parser;
  void Fail(int status, absl::string_view message, std::string* out);

  const HttpHandler* const handler_;
  const HttpLimits limits_;
  std::unique_ptr<Parser> parser_;
  bool closing_ = false;
};

}  // namespace skiff::api

#endif  // SKIFF_API_HTTP_CONNECTION_H_
