#include "api/test_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"

namespace skiff::api {

absl::StatusOr<TestClient> TestClient::Connect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError("path too long");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    return ErrnoStatus(absl::StrCat("connect ", path));
  }
  return TestClient(std::move(fd));
}

absl::Status TestClient::Send(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd_.get(), bytes.data() + done, bytes.size() - done,
                       MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("send");
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status TestClient::Fill() {
  char tmp[4096];
  for (;;) {
    ssize_t n = ::recv(fd_.get(), tmp, sizeof(tmp), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("recv");
    if (n == 0) return absl::UnavailableError("connection closed");
    buf_.append(tmp, static_cast<size_t>(n));
    return absl::OkStatus();
  }
}

absl::StatusOr<ClientResponse> TestClient::ReadResponse() {
  for (;;) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      SKIFF_RETURN_IF_ERROR(Fill());
    }
    ClientResponse r;
    r.headers = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    std::vector<std::string> lines = absl::StrSplit(r.headers, "\r\n");
    std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
    if (first.size() < 2 || !absl::SimpleAtoi(first[1], &r.status)) {
      return absl::DataLossError(absl::StrCat("bad status line: ", lines[0]));
    }
    if (r.status == 100) continue;
    size_t length = 0;
    for (const std::string& line : lines) {
      std::string lower = absl::AsciiStrToLower(line);
      if (absl::StartsWith(lower, "content-length:")) {
        std::string value(absl::StripAsciiWhitespace(lower.substr(15)));
        if (!absl::SimpleAtoi(value, &length)) {
          return absl::DataLossError("bad Content-Length");
        }
      }
    }
    while (buf_.size() < length) SKIFF_RETURN_IF_ERROR(Fill());
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }
}

absl::StatusOr<ClientResponse> TestClient::Request(const std::string& method,
                                                   const std::string& path,
                                                   const std::string& body) {
  std::string req =
      absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: localhost\r\n");
  if (!body.empty() || method == "PUT" || method == "PATCH") {
    absl::StrAppend(&req, "Content-Type: application/json\r\nContent-Length: ",
                    body.size(), "\r\n");
  }
  absl::StrAppend(&req, "\r\n", body);
  return Raw(req);
}

absl::StatusOr<ClientResponse> TestClient::Raw(const std::string& bytes) {
  SKIFF_RETURN_IF_ERROR(Send(bytes));
  return ReadResponse();
}

bool TestClient::AtEof() {
  if (!buf_.empty()) return false;
  char c;
  for (;;) {
    ssize_t n = ::recv(fd_.get(), &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 1) buf_.push_back(c);
    return n <= 0;
  }
}

void TestClient::ReadToEof() {
  while (Fill().ok()) {
  }
  buf_.clear();
}

}  // namespace skiff::api
