// A blocking HTTP/1.1 client over a Unix socket, for tests only: sends a
// request and reads one response (status, body) with Content-Length
// framing, as curl --unix-socket would.
//
//   SKIFF_ASSIGN_OR_RETURN(TestClient c, TestClient::Connect(path));
//   SKIFF_ASSIGN_OR_RETURN(ClientResponse r, c.Request("GET", "/", ""));
#ifndef SKIFF_API_TEST_CLIENT_H_
#define SKIFF_API_TEST_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace skiff::api {

struct ClientResponse {
  int status = 0;
  std::string headers;
  std::string body;
};

class TestClient {
 public:
  static absl::StatusOr<TestClient> Connect(const std::string& path);

  // Sends a request with Content-Length (when `body` is non-empty or the
  // method is PUT/PATCH) and reads the response.
  absl::StatusOr<ClientResponse> Request(const std::string& method,
                                         const std::string& path,
                                         const std::string& body);
  // Sends `bytes` as they are and reads one response.
  absl::StatusOr<ClientResponse> Raw(const std::string& bytes);
  absl::Status Send(const std::string& bytes);
  absl::StatusOr<ClientResponse> ReadResponse();
  // True when the server has closed the connection (reads return 0).
  bool AtEof();
  void ReadToEof();

 private:
  explicit TestClient(UniqueFd fd) : fd_(std::move(fd)) {}
  absl::Status Fill();

  UniqueFd fd_;
  std::string buf_;
};

}  // namespace skiff::api

#endif  // SKIFF_API_TEST_CLIENT_H_
