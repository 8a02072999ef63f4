#include "api/http_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skiff::api {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

HttpResponse Echo(const HttpRequest& req) {
  if (req.path == "/empty") return HttpResponse{204, "ignored"};
  if (req.path == "/throw") throw std::runtime_error("boom");
  return HttpResponse{
      200, absl::StrCat("{\"method\":\"", req.method, "\",\"path\":\"",
                        req.path, "\",\"body\":\"", req.body, "\"}")};
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skiff_api_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/api.sock";
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::unlink((dir_ + "/file").c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
  std::string path_;
};

TEST_F(ServerTest, ServesOverSocketWithKeepAlive) {
  auto server = HttpServer::Create(path_, &Echo);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Start().ok());
  auto client = TestClient::Connect(path_);
  ASSERT_TRUE(client.ok()) << client.status();
  auto r1 = client->Request("GET", "/one", "");
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->body, R"({"method":"GET","path":"/one","body":""})");
  auto r2 = client->Request("PUT", "/two", "data");
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->body, R"({"method":"PUT","path":"/two","body":"data"})");
  auto r3 = client->Request("PUT", "/empty", "");
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_EQ(r3->status, 204);
  (*server)->Stop();
}

TEST_F(ServerTest, SocketModeIs0600) {
  auto server = HttpServer::Create(path_, &Echo);
  ASSERT_TRUE(server.ok()) << server.status();
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ServerTest, MalformedRequestOverSocketClosesConnection) {
  auto server = HttpServer::Create(path_, &Echo);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Start().ok());
  auto client = TestClient::Connect(path_);
  ASSERT_TRUE(client.ok());
  auto r = client->Raw("NOT HTTP\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(client->AtEof());
}

TEST_F(ServerTest, OversizedBodyOverSocketGets413) {
  auto server = HttpServer::Create(path_, &Echo);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Start().ok());
  auto client = TestClient::Connect(path_);
  ASSERT_TRUE(client.ok());
  auto r = client->Request("PUT", "/big", std::string(64 * 1024 + 1, 'x'));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(client->AtEof());
  // A fresh connection is served normally.
  auto again = TestClient::Connect(path_);
  ASSERT_TRUE(again.ok());
  auto ok = again->Request("PUT", "/fits", std::string(64 * 1024, 'x'));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, LiveSocketIsRefused) {
  auto first = HttpServer::Create(path_, &Echo);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = HttpServer::Create(path_, &Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("another process is serving it"));
}

TEST_F(ServerTest, StaleSocketIsReplaced) {
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);  // bound, never listened: a stale file
  }
  auto server = HttpServer::Create(path_, &Echo);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Start().ok());
  auto client = TestClient::Connect(path_);
  ASSERT_TRUE(client.ok());
  auto r = client->Request("GET", "/", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, RegularFileAtPathIsRefused) {
  path_ = dir_ + "/file";
  FILE* f = std::fopen(path_.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  auto server = HttpServer::Create(path_, &Echo);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("not a socket"));
}

TEST_F(ServerTest, TooLongPathIsRefused) {
  auto server = HttpServer::Create("/tmp/" + std::string(200, 'a'), &Echo);
  ASSERT_FALSE(server.ok());
}

TEST_F(ServerTest, DestructorRemovesSocket) {
  {
    auto server = HttpServer::Create(path_, &Echo);
    ASSERT_TRUE(server.ok());
    ASSERT_TRUE((*server)->Start().ok());
  }
  EXPECT_NE(::access(path_.c_str(), F_OK), 0);
}

TEST_F(ServerTest, StopFromHandlerThreadDoesNotDeadlock) {
  HttpServer* raw = nullptr;
  std::atomic<bool> stopped{false};
  auto server = HttpServer::Create(path_, [&](const HttpRequest&) {
    raw->Stop();
    stopped = true;
    return HttpResponse{204, ""};
  });
  ASSERT_TRUE(server.ok());
  raw = server->get();
  ASSERT_TRUE((*server)->Start().ok());
  auto client = TestClient::Connect(path_);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client->Send("GET / HTTP/1.1\r\n\r\n").ok());
  // The server exits its loop; the connection closes without or with the
  // response, so only wait for the close.
  client->ReadToEof();
  EXPECT_TRUE(stopped);
  (*server)->Stop();
}

TEST_F(ServerTest, ConnectionsBeyondLimitAreClosed) {
  HttpLimits limits;
  limits.max_connections = 1;
  auto server = HttpServer::Create(path_, &Echo, limits);
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE((*server)->Start().ok());
  auto first = TestClient::Connect(path_);
  ASSERT_TRUE(first.ok());
  auto r = first->Request("GET", "/", "");  // the server has accepted it
  ASSERT_TRUE(r.ok());
  auto second = TestClient::Connect(path_);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->Request("GET", "/", "").ok());
  auto again = first->Request("GET", "/", "");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200);
}

}  // namespace
}  // namespace skiff::api
