#include "tools/bench/json_reader.h"

#include "gtest/gtest.h"

namespace skiff::bench {
namespace {

TEST(JsonReader, ParsesNestedDocument) {
  absl::StatusOr<JsonValue> v =
      ParseJson(R"({"a": [1, -2.5e3, true, null], "b": {"c": "x\"\u0041"}})");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_NE(v->Find("a"), nullptr);
  EXPECT_EQ(v->Find("a")->array.size(), 4u);
  EXPECT_DOUBLE_EQ(v->Find("a")->At(1)->number, -2500);
  EXPECT_TRUE(v->Find("a")->At(2)->boolean);
  EXPECT_TRUE(v->Find("a")->At(3)->is_null());
  EXPECT_EQ(v->Find("b")->Find("c")->string, "x\"A");
  EXPECT_EQ(v->Find("zz"), nullptr);
  EXPECT_EQ(v->Find("a")->At(9), nullptr);
}

TEST(JsonReader, RejectsInvalid) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01x", "\"\x01\"",
                          "[1] 2", "nul", "{\"a\":1,}", "1.", "\"\\q\""}) {
    EXPECT_FALSE(ParseJson(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseJson(std::string(1000, '[')).ok());
}

}  // namespace
}  // namespace skiff::bench
