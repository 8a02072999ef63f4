#include "api/http_connection.h"

#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"
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

class ConnectionTest : public ::testing::Test {
 protected:
  HttpHandler handler_ = &Echo;
};

TEST_F(ConnectionTest, AnswersGetWithLengthAndType) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_TRUE(conn.Feed("GET /x HTTP/1.1\r\nHost: a\r\n\r\n", &out));
  EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(out, HasSubstr("Content-Type: application/json\r\n"));
  std::string body = R"({"method":"GET","path":"/x","body":""})";
  EXPECT_THAT(out, HasSubstr(absl::StrCat("Content-Length: ", body.size())));
  EXPECT_THAT(out, HasSubstr("\r\n\r\n" + body));
  EXPECT_THAT(out, Not(HasSubstr("Connection: close")));
}

TEST_F(ConnectionTest, PutBodyReachesHandler) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_TRUE(
      conn.Feed("PUT /a?q=1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", &out));
  EXPECT_THAT(out, HasSubstr(R"({"method":"PUT","path":"/a","body":"abc"})"));
}

TEST_F(ConnectionTest, ByteByByteFeedGivesSameAnswer) {
  HttpConnection conn(&handler_, {});
  std::string out;
  std::string req = "PATCH /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
  for (char c : req) EXPECT_TRUE(conn.Feed(std::string(1, c), &out));
  EXPECT_THAT(out, HasSubstr(R"({"method":"PATCH","path":"/b","body":"hi"})"));
}

TEST_F(ConnectionTest, PipelinedRequestsAnsweredInOrder) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_TRUE(conn.Feed(
      "GET /1 HTTP/1.1\r\n\r\nPUT /2 HTTP/1.1\r\nContent-Length: 1\r\n\r\nz"
      "GET /3 HTTP/1.1\r\n\r\n",
      &out));
  size_t a = out.find("\"/1\"");
  size_t b = out.find("\"/2\"");
  size_t c = out.find("\"/3\"");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(c, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST_F(ConnectionTest, NoContentHasNoBodyOrLength) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_TRUE(conn.Feed("PUT /empty HTTP/1.1\r\n\r\n", &out));
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST_F(ConnectionTest, MalformedGets400AndCloses) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_FALSE(conn.Feed("GARBAGE\x01\r\n\r\n", &out));
  EXPECT_THAT(out, StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(out, HasSubstr("Connection: close"));
  EXPECT_THAT(out, HasSubstr("fault_message"));
  // Later bytes are ignored.
  std::string more;
  EXPECT_FALSE(conn.Feed("GET / HTTP/1.1\r\n\r\n", &more));
  EXPECT_EQ(more, "");
}

TEST_F(ConnectionTest, BadContentLengthIs400) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_FALSE(conn.Feed("PUT / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", &out));
  EXPECT_THAT(out, StartsWith("HTTP/1.1 400 "));
}

TEST_F(ConnectionTest, OversizedHeadersGet413) {
  HttpConnection conn(&handler_, {});
  std::string out;
  std::string req =
      "GET / HTTP/1.1\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n";
  EXPECT_FALSE(conn.Feed(req, &out));
  EXPECT_THAT(out, StartsWith("HTTP/1.1 413 Payload Too Large\r\n"));
}

TEST_F(ConnectionTest, ManySmallHeadersCountTowardsLimit) {
  HttpConnection conn(&handler_, {});
  std::string out;
  std::string req = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 2000; ++i) req += "A: b\r\n";
  req += "\r\n";
  EXPECT_FALSE(conn.Feed(req, &out));
  EXPECT_THAT(out, StartsWith("HTTP/1.1 413 "));
}

TEST_F(ConnectionTest, OversizedContentLengthGets413BeforeBody) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_FALSE(
      conn.Feed("PUT / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", &out));
  EXPECT_THAT(out, StartsWith("HTTP/1.1 413 "));
}

TEST_F(ConnectionTest, BodyAtLimitIsAccepted) {
  HttpConnection conn(&handler_, {});
  std::string out;
  std::string req = "PUT / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n" +
                    std::string(65536, 'x');
  EXPECT_TRUE(conn.Feed(req, &out));
  EXPECT_THAT(out, StartsWith("HTTP/1.1 200 "));
}

TEST_F(ConnectionTest, OversizedChunkedBodyGets413) {
  HttpConnection conn(&handler_, {});
  std::string out;
  std::string req = "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) {
    req += "1000\r\n" + std::string(0x1000, 'y') + "\r\n";
  }
  req += "0\r\n\r\n";
  EXPECT_FALSE(conn.Feed(req, &out));
  EXPECT_THAT(out, StartsWith("HTTP/1.1 413 "));
}

TEST_F(ConnectionTest, ConnectionCloseAndHttp10Close) {
  {
    HttpConnection conn(&handler_, {});
    std::string out;
    EXPECT_FALSE(
        conn.Feed("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &out));
    EXPECT_THAT(out, HasSubstr("Connection: close\r\n"));
  }
  {
    HttpConnection conn(&handler_, {});
    std::string out;
    EXPECT_FALSE(conn.Feed("GET / HTTP/1.0\r\n\r\n", &out));
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200 "));
  }
}

TEST_F(ConnectionTest, HeadClosesSoFramingCannotSlip) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_FALSE(conn.Feed("HEAD / HTTP/1.1\r\n\r\n", &out));
  EXPECT_THAT(out, HasSubstr("Connection: close"));
}

TEST_F(ConnectionTest, ExpectContinueGetsInterimResponse) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_TRUE(conn.Feed(
      "PUT /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
      &out));
  EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_TRUE(conn.Feed("q", &out));
  EXPECT_THAT(out, HasSubstr("HTTP/1.1 200 OK"));
}

TEST_F(ConnectionTest, UpgradeIsRefused) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_FALSE(conn.Feed("CONNECT a:1 HTTP/1.1\r\n\r\n", &out));
  EXPECT_THAT(out, StartsWith("HTTP/1.1 400 "));
}

TEST_F(ConnectionTest, HandlerExceptionIs500) {
  HttpConnection conn(&handler_, {});
  std::string out;
  EXPECT_TRUE(conn.Feed("GET /throw HTTP/1.1\r\n\r\n", &out));
  EXPECT_THAT(out, StartsWith("HTTP/1.1 500 "));
}

TEST(FormatHttpResponse, StatusLines) {
  for (int code : {200, 204, 400, 404, 405, 413, 500}) {
    std::string s = FormatHttpResponse(HttpResponse{code, "{}"}, false);
    EXPECT_THAT(s, StartsWith(absl::StrCat("HTTP/1.1 ", code, " ")));
    EXPECT_THAT(s, Not(HasSubstr("Unknown")));
  }
}

}  // namespace
}  // namespace skiff::api
