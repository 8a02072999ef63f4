#include "api/http_connection.h"

#include <http_parser.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace skiff::api {
namespace {

// Header names and values are kept only as far as needed to recognise the
// few headers that matter here (Expect); the rest is counted, not stored.
constexpr size_t kMaxKeptHeaderName = 32;
constexpr size_t kMaxKeptHeaderValue = 64;
// ": " and CRLF around each header, which the callbacks do not see.
constexpr size_t kHeaderOverhead = 4;

std::string FaultBody(absl::string_view message) {
  // JSON string escaping by hand: the message may quote request bytes that
  // are not valid UTF-8, so bytes outside printable ASCII become \u00XX.
  std::string out = "{\"fault_message\": \"";
  for (char ch : message) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c >= 0x7f) {
      absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(ch);
    }
  }
  out += "\"}";
  return out;
}

}  // namespace

const char* HttpReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 500:
      return "Internal Server Error";
    default:
      return "Unknown";
  }
}

std::string FormatHttpResponse(const HttpResponse& response, bool close) {
  std::string out = absl::StrFormat("HTTP/1.1 %d %s\r\n", response.status,
                                    HttpReason(response.status));
  // RFC 9110 section 15.3.5: a 204 carries no content and no
  // Content-Length.
  if (response.status != 204) {
    absl::StrAppend(&out, "Content-Type: application/json\r\nContent-Length: ",
                    response.body.size(), "\r\n");
  }
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  if (response.status != 204) out += response.body;
  return out;
}

// The http_parser state for one connection, plus the request being built.
// Callbacks find it through http_parser::data.
struct HttpConnection::Parser {
  http_parser parser;
  http_parser_settings settings;
  HttpConnection* conn = nullptr;
  std::string* out = nullptr;  // valid during Feed()

  HttpRequest request;
  size_t header_bytes = 0;
  bool in_value = false;
  std::string field;
  std::string value;
  bool expect_continue = false;
  bool message_done = false;
  bool keep_alive = true;
  // Set by a callback that stops the parse, to choose the error response.
  int error_status = 0;
  std::string error_message;

  static Parser* From(http_parser* p) { return static_cast<Parser*>(p->data); }

  int Error(int status, std::string message) {
    error_status = status;
    error_message = std::move(message);
    // Not 1 or 2: from on_headers_complete those mean "no body" and
    // "upgrade"; any other non-zero value stops the parse with an error.
    return -1;
  }

  int CountHeader(size_t n) {
    header_bytes += n;
    if (header_bytes > conn->limits_.max_header_bytes) {
      return Error(413, absl::StrCat("request headers exceed ",
                                     conn->limits_.max_header_bytes, " bytes"));
    }
    return 0;
  }

  void EndHeader() {
    if (absl::AsciiStrToLower(field) == "expect" &&
        absl::AsciiStrToLower(value) == "100-continue") {
      expect_continue = true;
    }
    field.clear();
    value.clear();
  }

  static int OnMessageBegin(http_parser* p) {
    Parser* self = From(p);
    self->request = HttpRequest();
    self->header_bytes = 0;
    self->in_value = false;
    self->field.clear();
    self->value.clear();
    self->expect_continue = false;
    self->message_done = false;
    return 0;
  }

  static int OnUrl(http_parser* p, const char* at, size_t n) {
    Parser* self = From(p);
    if (int r = self->CountHeader(n); r != 0) return r;
    self->request.path.append(at, n);
    return 0;
  }

  static int OnHeaderField(http_parser* p, const char* at, size_t n) {
    Parser* self = From(p);
    if (self->in_value || self->field.empty()) {
      if (self->in_value) self->EndHeader();
      self->in_value = false;
      if (int r = self->CountHeader(kHeaderOverhead); r != 0) return r;
    }
    if (int r = self->CountHeader(n); r != 0) return r;
    size_t keep =
        std::min(n, kMaxKeptHeaderName + 1 -
                        std::min(self->field.size(), kMaxKeptHeaderName + 1));
    self->field.append(at, keep);
    return 0;
  }

  static int OnHeaderValue(http_parser* p, const char* at, size_t n) {
    Parser* self = From(p);
    self->in_value = true;
    if (int r = self->CountHeader(n); r != 0) return r;
    size_t keep =
        std::min(n, kMaxKeptHeaderValue + 1 -
                        std::min(self->value.size(), kMaxKeptHeaderValue + 1));
    self->value.append(at, keep);
    return 0;
  }

  static int OnHeadersComplete(http_parser* p) {
    Parser* self = From(p);
    if (self->in_value) self->EndHeader();
    self->in_value = false;
    self->request.method = http_method_str(static_cast<http_method>(p->method));
    // http_parser sets `upgrade` before this callback (CONNECT, or Upgrade
    // with Connection: upgrade); the bytes after it would not be HTTP.
    if (p->upgrade || p->method == HTTP_CONNECT) {
      return self->Error(400, "protocol upgrade and CONNECT are not supported");
    }
    size_t query = self->request.path.find_first_of("?#");
    if (query != std::string::npos) self->request.path.resize(query);
    const size_t max_body = self->conn->limits_.max_body_bytes;
    if ((p->flags & F_CONTENTLENGTH) != 0 && p->content_length > max_body) {
      return self->Error(413,
                         absl::StrCat("request body of ", p->content_length,
                                      " bytes exceeds ", max_body));
    }
    // curl sends "Expect: 100-continue" before larger bodies and would
    // otherwise wait a second for this interim response.
    if (self->expect_continue && self->out != nullptr) {
      *self->out += "HTTP/1.1 100 Continue\r\n\r\n";
    }
    return 0;
  }

  static int OnBody(http_parser* p, const char* at, size_t n) {
    Parser* self = From(p);
    const size_t max_body = self->conn->limits_.max_body_bytes;
    if (n > max_body - self->request.body.size()) {
      return self->Error(
          413, absl::StrCat("request body exceeds ", max_body, " bytes"));
    }
    self->request.body.append(at, n);
    return 0;
  }

  static int OnMessageComplete(http_parser* p) {
    Parser* self = From(p);
    self->keep_alive = http_should_keep_alive(p) != 0;
    self->message_done = true;
    // One request at a time: Feed() answers it, then resumes the parse.
    http_parser_pause(p, 1);
    return 0;
  }
};

HttpConnection::HttpConnection(const HttpHandler* handler, HttpLimits limits)
    : handler_(handler), limits_(limits), parser_(std::make_unique<Parser>()) {
  http_parser_init(&parser_->parser, HTTP_REQUEST);
  parser_->parser.data = parser_.get();
  http_parser_settings_init(&parser_->settings);
  parser_->settings.on_message_begin = &Parser::OnMessageBegin;
  parser_->settings.on_url = &Parser::OnUrl;
  parser_->settings.on_header_field = &Parser::OnHeaderField;
  parser_->settings.on_header_value = &Parser::OnHeaderValue;
  parser_->settings.on_headers_complete = &Parser::OnHeadersComplete;
  parser_->settings.on_body = &Parser::OnBody;
  parser_->settings.on_message_complete = &Parser::OnMessageComplete;
  parser_->conn = this;
}

HttpConnection::~HttpConnection() = default;

void HttpConnection::Fail(int status, absl::string_view message,
                          std::string* out) {
  HttpResponse response{status, FaultBody(message)};
  *out += FormatHttpResponse(response, /*close=*/true);
  closing_ = true;
}

bool HttpConnection::Feed(absl::string_view data, std::string* out) {
  Parser& p = *parser_;
  p.out = out;
  while (!data.empty() && !closing_) {
    size_t n =
        http_parser_execute(&p.parser, &p.settings, data.data(), data.size());
    n = std::min(n, data.size());
    const http_errno err = HTTP_PARSER_ERRNO(&p.parser);
    if (err == HPE_PAUSED && p.message_done) {
      p.message_done = false;
      HttpResponse response;
      try {
        response = (*handler_)(p.request);
      } catch (...) {
        // The handler is written not to throw; this keeps a library
        // exception from taking the whole VMM down.
        response = HttpResponse{500, FaultBody("internal error")};
      }
      if (response.status == 204) response.body.clear();
      // A HEAD client would not read the body we send, so the next response
      // would be misframed; end the connection instead.
      if (!p.keep_alive || p.request.method == "HEAD") closing_ = true;
      *out += FormatHttpResponse(response, closing_);
      http_parser_pause(&p.parser, 0);
      data.remove_prefix(n);
      continue;
    }
    if (err != HPE_OK) {
      if (p.error_status != 0) {
        Fail(p.error_status, p.error_message, out);
      } else {
        Fail(400,
             absl::StrCat("malformed HTTP request: ",
                          http_errno_description(err)),
             out);
      }
      break;
    }
    if (p.parser.upgrade) {
      Fail(400, "protocol upgrade and CONNECT are not supported", out);
      break;
    }
    data.remove_prefix(n);
    if (n == 0) break;  // cannot happen without an error; never spin
  }
  p.out = nullptr;
  return !closing_;
}

}  // namespace skiff::api
